"""Articles that arrive while things run: the watched folder (CLI --watch and the page's RAG_WATCH thread)."""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, SEED, make_settings

pytestmark = pytest.mark.slow

NEW_ARTICLE = ("date 2025-08 Linz eröffnet schwimmende Bibliothek\nVon: APA\n\n"
               "Auf der Donau in Linz hat am Samstag eine schwimmende Bibliothek eröffnet. Das Schiff bietet "
               "12.000 Bücher und einen Lesesaal für 40 Personen.")


def wait_for(condition, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(0.5)
    raise AssertionError("timed out")


def json_lines(proc) -> queue.Queue:
    """The process's stdout lines, read in a thread so that a test can wait with a timeout."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    return lines


def next_summary(lines: queue.Queue) -> dict:
    return json.loads(lines.get(timeout=180))


def test_cli_watch_indexes_new_changed_and_removed_files(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    index = tmp_path / "index"
    env = {**os.environ, "RAG_LLM_BASE_URL": "", "PYTHONUNBUFFERED": "1"}
    # Ctrl-C as on a terminal, even when the suite itself runs in the background (which ignores SIGINT for children)
    proc = subprocess.Popen([sys.executable, "-m", "ingest", str(corpus), "--index", str(index), "--json", "--watch"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = json_lines(proc)
    try:
        first = next_summary(lines)
        assert first["added"] == 1 and first["articles_total"] == 1
        (corpus / ".drafts").mkdir()
        (corpus / ".drafts" / "entwurf.txt").write_text("Entwurf\n\nNoch nicht fertig.", "utf-8")  # hidden: no sync
        time.sleep(3)
        assert lines.empty()
        (corpus / "linz.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        second = next_summary(lines)
        assert second["added"] == 1 and second["articles_total"] == 2 and not second["skipped"]
        (corpus / "linz.txt").write_text(NEW_ARTICLE + " Der Eintritt ist frei.", encoding="utf-8")
        third = next_summary(lines)
        assert third["updated"] == 1 and third["articles_total"] == 2
        (corpus / "linz.txt").unlink()
        fourth = next_summary(lines)
        assert fourth["removed"] == 1 and fourth["articles_total"] == 1
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=60)
        finally:
            proc.kill()  # no-op when it ended; never leave a watcher behind
    assert proc.returncode == 0, proc.stderr.read()[-2000:]


def test_page_watch_thread_makes_new_files_searchable(tmp_path):
    from ingest.sync import sync
    from ingest.watch import start_watching
    from rag import Retriever

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    settings = make_settings(tmp_path / "index", corpus_dir=corpus, watch=True)
    sync([corpus], settings)
    retriever = Retriever(settings)
    logged: list[str] = []
    stop = start_watching(corpus, settings, logged.append)
    try:
        time.sleep(1.0)  # let the watcher start before the file appears
        (corpus / "linz.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        hit = wait_for(lambda: [h for h in retriever.search("schwimmende Bibliothek Donau", k=3)
                                if h.article.article_id == "linz.txt"])
        assert hit[0].rank == 1
        wait_for(lambda: any("1 added" in line for line in logged))
    finally:
        stop.set()


def test_cli_ingest_while_the_page_serves_is_done_by_the_page(tmp_path):
    from gradio_client import Client

    from app import launch
    from conftest import free_port
    from ingest.sync import sync
    from ingest.via_page import PAGE_FILE
    from rag import Answerer, Retriever

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    settings = make_settings(tmp_path / "index", corpus_dir=corpus)
    sync([corpus], settings)
    demo = launch(Answerer(Retriever(settings)), port=free_port(), block=False)
    try:
        assert (settings.index_dir / PAGE_FILE).exists()
        (corpus / "linz.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        (corpus / "kaputt.json").write_text('{"title": "x", "te', encoding="utf-8")
        env = {**os.environ, "RAG_LLM_BASE_URL": ""}
        out = subprocess.run([sys.executable, "-m", "ingest", str(corpus), "--index", str(settings.index_dir), "--json"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 3, out.stderr  # done, with a file skipped: as without a page
        assert "indexed by the page" in out.stderr
        summary = json.loads(out.stdout.splitlines()[-1])
        assert summary["added"] == 1 and [x["path"] for x in summary["skipped"]] == [str(corpus / "kaputt.json")]
        # the page's own vector index has the new passages (a second writer process would have left them unseen)
        hits = Client(demo.url, verbose=False).predict("schwimmende Bibliothek auf der Donau", 3, api_name="/search")
        assert hits[0]["article_id"] == "linz.txt"
    finally:
        demo.close()


def test_stale_page_announcement_is_ignored(tmp_path):
    from ingest.via_page import PAGE_FILE, serving_page

    (tmp_path / PAGE_FILE).write_text(json.dumps({"url": "http://127.0.0.1:9/", "pid": 2**22 + 12345}))
    assert serving_page(tmp_path) is None  # that process does not exist: ingest works locally
