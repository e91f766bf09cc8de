"""This machine's search file: the keyword (BM25) side of hybrid search and a read copy of what a search returns
(chunk texts and vectors, the committed article versions), in SQLite, with the postings beside it (`rag.postings`).

Text is analyzed by `rag.terms.index_terms` (stemming, stop words, umlaut folding, compound parts); the terms are
kept with each chunk row, and the postings index them under the row's rowid. SQLite rows are the truth: a write
changes them in one transaction, then the postings, and a write interrupted between the two is repaired by
building the postings again from the rows (seconds: no analysis, no embedding).

Why a read copy: every Chroma call that returns texts, metadata or vectors costs ≈ 4 ms here whatever it returns
(ids and distances alone ≈ 1.5 ms), and a search needed three (the dense side's passages, the keyword side's, their
articles). With the copy a search asks Chroma only for the nearest ids and reads the rest here in one query. The
copy's article rows are what readers take as committed (see `rag.store.Store.write_articles`).
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from filelock import FileLock

from rag.postings import Postings
from rag.schema import Article, Chunk
from rag.terms import index_terms

# 2: chunk rows with text and vector, and committed article rows (before: only the passages' owners). 3: the terms
# in the chunk rows, the postings in tantivy (before: SQLite FTS5). A file of an older version is emptied on opening
# and filled again from Chroma (`rag.store.Store`).
SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id TEXT NOT NULL, article_id TEXT NOT NULL,
    content_hash TEXT NOT NULL, chunk_index INTEGER NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL,
    text TEXT NOT NULL, terms TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks (article_id, content_hash);
CREATE INDEX IF NOT EXISTS chunks_by_id ON chunks (chunk_id);
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, story TEXT NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, source TEXT NOT NULL, date TEXT NOT NULL, agency TEXT NOT NULL, url TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_agency ON articles (agency);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# AUTOINCREMENT: a rowid is never given twice, so postings a reader has not yet seen removed cannot name another row
_TABLES_EVER = ("passages", "owners", "chunks", "articles", "state")  # of any version, for the reset
_COMMITTED = """
SELECT c.chunk_id, c.article_id, c.chunk_index, c.start, c.stop, c.text, c.vector,
       a.title, a.text, a.source, a.date, a.agency, a.url, a.story
FROM chunks c JOIN articles a ON a.article_id = c.article_id AND a.content_hash = c.content_hash
WHERE c.chunk_id IN ({})
"""
_PENDING = "postings pending"  # a state row, there while the postings lag the rows: set and cleared by each write


class IndexedChunk(NamedTuple):
    """A passage of a committed article version as the search file holds it."""

    chunk: Chunk
    article: Article
    story: str
    vector: np.ndarray


# what a write changed for the postings: rowids removed, (rowid, terms) added
Change = tuple[list[int], list[tuple[int, str]]]


class KeywordIndex:
    """BM25 search over the passages of one index key, and the read copy of their chunks and committed articles;
    thread-safe, one per file and process."""

    def __init__(self, path: Path | str):
        self._lock = threading.Lock()
        self.path = Path(path)
        postings = self.path.with_suffix(".postings")
        self._writer = FileLock(f"{postings}.lock")  # one writer at a time of any thread or process (tantivy: one)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=60, isolation_level=None)
        with self._writer:  # the file's and the postings' set-up and repair, once, whoever opens them at once
            self._db.execute("PRAGMA journal_mode=WAL")  # readers are not blocked by the writer
            if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._create(postings)
            self._inode = os.stat(self.path).st_ino
            self._postings = Postings(postings)
            with self._lock:
                rows = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
                if self._pending() or self._postings.count() != rows:
                    self._rebuild_postings()  # a write interrupted (see `_write`), or the postings lost

    def _create(self, postings: Path) -> None:
        """Create the tables; a file of an older version loses its own first, and its postings (another process may
        be doing the same: the write lock makes it happen once)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
            for table in _TABLES_EVER:
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            Postings.wipe(postings)  # rowids start again: postings of another file would name other rows

    def _rebuild_postings(self) -> None:
        """Index every chunk row's terms again (the caller holds both locks)."""
        rows = self._db.execute("SELECT rowid, terms FROM chunks").fetchall()
        self._postings.update((), rows, replace_all=True)
        self._db.execute("DELETE FROM state WHERE name = ?", (_PENDING,))

    def _pending(self) -> bool:
        return bool(self._db.execute("SELECT 1 FROM state WHERE name = ?", (_PENDING,)).fetchone())

    def _write(self, change: Callable[[], Change]) -> None:
        """Run `change` (SQL statements returning what they changed for the postings) in one transaction, then
        bring the postings in step. The pending mark lives from the one commit to the other: a write interrupted in
        between leaves it, and the next write (or opening) builds the postings again from the rows."""
        with self._writer:  # searches wait for the rows' transaction only, not for the postings (or their merges)
            with self._lock:
                if self._pending():
                    self._rebuild_postings()
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")  # the write lock first: no failure on reading then writing
                    removed, added = change()
                    if removed or added:
                        self._db.execute("INSERT OR REPLACE INTO state VALUES (?, '')", (_PENDING,))
            if removed or added:
                self._postings.update(removed, added)
                with self._lock:
                    self._db.execute("DELETE FROM state WHERE name = ?", (_PENDING,))

    def is_current(self) -> bool:
        """Whether the file this connection reads, and the postings folder, are still the ones at their paths: another
        process may have deleted them (dropping the build) and made new ones there (building it again); this
        connection would read the old. The inode tells them apart: an old one cannot be reused while held open."""
        try:
            return os.stat(self.path).st_ino == self._inode and self._postings.is_current()
        except FileNotFoundError:
            return False

    def close(self) -> None:
        """Close the connection and the postings (the files are about to be deleted)."""
        with self._lock:
            self._db.close()
            self._postings.close()

    def add(self, versions: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]]) -> None:
        """Index the chunks of article versions `(article, chunks, vectors)` (the title counts as part of every
        passage, as in the vectors). Searches see them once `commit` names their version."""
        rows = [
            (c.chunk_id, c.article_id, a.content_hash, c.index, c.start, c.end, c.text,
             " ".join(index_terms(f"{a.title}\n{c.text}")), np.asarray(v, dtype=np.float32).tobytes())
            for a, chunks, vectors in versions
            for c, v in zip(chunks, vectors, strict=True)
        ]

        def change() -> Change:
            removed = self._drop("article_id = ? AND content_hash = ?",
                                 [(a.article_id, a.content_hash) for a, _, _ in versions])
            added = [
                (self._db.execute("INSERT INTO chunks (chunk_id, article_id, content_hash, chunk_index, start, stop, "
                                  "text, terms, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid, row[7])
                for row in rows
            ]
            return removed, added

        self._write(change)

    def commit(self, articles: Sequence[tuple[Article, str]]) -> None:
        """Make these `(article, story)` versions the ones searches see, and drop the passages of their other
        versions, in one transaction: a search sees an article's old version or its new one, whole."""
        def change() -> Change:
            self._db.executemany(
                "INSERT OR REPLACE INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.article_id, a.content_hash, story, a.title, a.text, a.source, a.date, a.agency, a.url)
                 for a, story in articles],
            )
            return self._drop("article_id = ? AND content_hash != ?",
                              [(a.article_id, a.content_hash) for a, _ in articles]), []

        self._write(change)

    def set_stories(self, stories: Mapping[str, str]) -> None:
        """Record the story (near-duplicate group) of these articles."""
        def change() -> Change:
            self._db.executemany("UPDATE articles SET story = ? WHERE article_id = ?",
                                 [(story, aid) for aid, story in stories.items()])
            return [], []

        self._write(change)

    def delete(self, article_ids: Iterable[str]) -> None:
        """Drop these articles and every passage of theirs."""
        ids = [(a,) for a in article_ids]

        def change() -> Change:
            self._db.executemany("DELETE FROM articles WHERE article_id = ?", ids)
            return self._drop("article_id = ?", ids), []

        self._write(change)

    def _drop(self, condition: str, params: Sequence[tuple]) -> list[int]:
        """Delete the chunk rows that match `condition` (inside the caller's transaction); returns their rowids."""
        rowids = [r for p in params for (r,) in self._db.execute(f"SELECT rowid FROM chunks WHERE {condition}", p)]
        self._db.executemany("DELETE FROM chunks WHERE rowid = ?", [(r,) for r in rowids])
        return rowids

    def reconcile(self, committed: Mapping[str, tuple[str, str]]) -> tuple[int, list[str]]:
        """Bring this file in line with `committed` (article_id → (content hash, story)): drop passages and articles
        of other versions, take the stories. Returns how many passages went, and the committed articles whose
        version is not here whole (to be added)."""
        def current(aid: str) -> str | None:
            return committed[aid][0] if aid in committed else None

        with self._lock:
            rows = self._db.execute("SELECT rowid, article_id, content_hash FROM chunks").fetchall()
            here = {aid: (h, story) for aid, h, story in
                    self._db.execute("SELECT article_id, content_hash, story FROM articles").fetchall()}
        orphans = [rowid for rowid, aid, h in rows if current(aid) != h]
        gone = [(aid,) for aid, (h, _) in here.items() if current(aid) != h]
        stories = [(committed[aid][1], aid) for aid, (h, story) in here.items()
                   if current(aid) == h and committed[aid][1] != story]

        def change() -> Change:
            self._db.executemany("DELETE FROM chunks WHERE rowid = ?", [(r,) for r in orphans])
            self._db.executemany("DELETE FROM articles WHERE article_id = ?", gone)
            self._db.executemany("UPDATE articles SET story = ? WHERE article_id = ?", stories)
            return orphans, []

        if orphans or gone or stories:
            self._write(change)
        whole = {aid for _, aid, h in rows if current(aid) == h and here.get(aid, ("",))[0] == h}
        return len(orphans), [aid for aid in committed if aid not in whole]

    def committed(self, chunk_ids: Iterable[str]) -> dict[str, IndexedChunk]:
        """chunk_id → the passage, for those of these chunks whose article version is committed (one read: every
        passage is checked against the same state)."""
        ids = list(dict.fromkeys(chunk_ids))
        if not ids:
            return {}
        with self._lock:
            rows = self._db.execute(_COMMITTED.format(",".join("?" * len(ids))), ids).fetchall()
        articles: dict[str, Article] = {}
        out = {}
        for cid, aid, index, start, stop, text, vector, title, body, source, date, agency, url, story in rows:
            if aid not in articles:  # one Article per article, however many of its passages are found
                articles[aid] = Article(aid, title, body, source, date=date, agency=agency, url=url)
            article = articles[aid]
            out[cid] = IndexedChunk(Chunk(cid, aid, index, text, start, stop), article, story,
                                    np.frombuffer(vector, dtype=np.float32))
        return out

    def bylines(self) -> list[str]:
        """The distinct bylines (agency fields) of the committed articles (read from an index: a scan of the rows would
        step through every article's text)."""
        with self._lock:
            return [byline for (byline,) in self._db.execute("SELECT DISTINCT agency FROM articles")]

    def is_empty(self) -> bool:
        """Whether no passage is indexed here."""
        with self._lock:
            return not self._db.execute("SELECT EXISTS (SELECT 1 FROM chunks)").fetchone()[0]

    def generation(self) -> str:
        """The writer's generation (see `rag.store.Store.sync_keyword`) these passages were last known to match."""
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE name = 'generation'").fetchone()
        return row[0] if row else ""

    def set_generation(self, generation: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO state VALUES ('generation', ?)", (generation,))

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score, higher is better) of the best `n` passages for the query's terms (a passage the
        postings still hold but the rows no longer do, in the moment between a write's two commits, is left out)."""
        found = self._postings.search(list(dict.fromkeys(index_terms(query))), n)
        if not found:
            return []
        marks = ",".join("?" * len(found))
        with self._lock:
            ids = dict(self._db.execute(f"SELECT rowid, chunk_id FROM chunks WHERE rowid IN ({marks})",
                                        [rowid for rowid, _ in found]).fetchall())
        return [(ids[rowid], score) for rowid, score in found if rowid in ids]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
