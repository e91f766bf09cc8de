"""The fixed command-line contract, run as real processes: ingest, search, ask; on a local index and on a real
Chroma server (`RAG_CHROMA_URL`)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SEED, SHARED, chroma_server, gnad_rows

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI"))}


def run(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], input=stdin, capture_output=True, text=True, env=env or ENV, cwd=REPO,
        timeout=600,
    )


def summary(p: subprocess.CompletedProcess) -> dict:
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=["local", "chroma-server"])
def corpus_and_index(request, tmp_path_factory):
    """A corpus folder, the index folder and the environment the commands run in: a local index, or a real Chroma
    server holding the index (the folder then holds only this machine's keyword file and lock)."""
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    for i, (_, text) in enumerate(gnad_rows(3)):
        (corpus / f"a{i}.txt").write_text(text, encoding="utf-8")
    if request.param == "local":
        yield corpus, root / "index", ENV
        return
    with chroma_server(root) as url:
        yield corpus, root / "index", {**ENV, "RAG_CHROMA_URL": url}
    assert not list((root / "index").rglob("chroma.sqlite3"))  # everything Chroma holds lived in the server


@pytest.fixture(scope="module")
def first_ingest(corpus_and_index):
    """The first `python -m ingest` of the corpus (any test of this module may run alone: `-k`)."""
    corpus, index, env = corpus_and_index
    return run("ingest", str(corpus), "--index", str(index), "--json", env=env)


def test_ingest_is_incremental_and_reports_each_case(corpus_and_index, first_ingest):
    corpus, index, env = corpus_and_index
    first = first_ingest
    assert first.returncode == 0, first.stderr
    s = summary(first)
    assert {k: s[k] for k in ("added", "updated", "unchanged", "removed", "skipped")} == {
        "added": 4, "updated": 0, "unchanged": 0, "removed": 0, "skipped": []
    }
    assert s["chunks"] == s["chunks_total"] > 4

    again = summary(run("ingest", str(corpus), "--index", str(index), "--json", env=env))
    assert (again["added"], again["unchanged"], again["chunks"]) == (0, 4, 0)

    (corpus / "a0.txt").write_text((corpus / "a0.txt").read_text("utf-8") + " Ein neuer Schlusssatz.", "utf-8")
    (corpus / "a1.txt").unlink()
    (corpus / "copy.txt").write_text((corpus / "a2.txt").read_text("utf-8"), "utf-8")
    (corpus / "broken.json").write_text('{"title": "x", "te', "utf-8")
    changed = run("ingest", str(corpus), "--index", str(index), "--json", env=env)
    assert changed.returncode == 3  # finished, but a file was skipped
    c = summary(changed)
    assert (c["added"], c["updated"], c["unchanged"], c["removed"]) == (0, 1, 2, 1)
    assert c["duplicates"] == [{"path": str(corpus / "copy.txt"), "article_id": "copy.txt", "same_as": "a2.txt"}]
    assert [(x["path"], "invalid JSON" in x["reason"]) for x in c["skipped"]] == [(str(corpus / "broken.json"), True)]
    assert c["articles_total"] == 3


def test_search_reads_queries_from_stdin_one_json_array_per_line(corpus_and_index, first_ingest):
    corpus, index, env = corpus_and_index
    qs = "Wie viele nordkoreanische Soldaten wurden nach Russland verlegt?\n\nWho did Kim meet in Wonsan?\n"
    p = run("rag", "search", "-", "--json", "-k", "2", "--index", str(index), stdin=qs, env=env)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 3 and lines.pop(1) == "[]"  # line n answers line n, a blank one with nothing
    for line in lines:
        hits = json.loads(line)
        assert len(hits) == 2 and hits[0]["source"].endswith(SEED.name) and hits[0]["date"] == "2025-07"
        assert {"rank", "score", "article_id", "source", "title", "date", "text", "start", "end"} <= set(hits[0])


def test_ask_json_follows_the_contract(corpus_and_index, first_ingest):
    _, index, env = corpus_and_index
    p = run("rag", "ask", "-", "--json", "--index", str(index), stdin="Wie viele Pioniere schickt Nordkorea?\n", env=env)
    assert p.returncode == 0, p.stderr
    a = json.loads(p.stdout)
    assert a["mode"] == "extractive" and a["answerable"] and "[1]" in a["answer"]
    assert a["citations"][0]["source"].endswith(SEED.name) and a["citations"][0]["n"] == 1


def test_missing_index_says_to_run_the_ingest_job(tmp_path):
    p = run("rag", "search", "Kim", "--index", str(tmp_path / "nothing"))
    assert p.returncode == 1 and "run `python -m ingest`" in p.stderr and "Traceback" not in p.stderr


def test_shared_contract_checker_passes():
    checker = SHARED / "tools" / "check_contract.py"
    if not checker.exists():
        pytest.skip(f"{checker} is absent")
    p = subprocess.run(
        [sys.executable, str(checker), sys.executable], capture_output=True, text=True, cwd=REPO, timeout=900
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "all hold" in p.stdout
