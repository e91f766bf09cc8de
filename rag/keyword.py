"""This machine's search file: the keyword (BM25) side of hybrid search, SQLite FTS5 over German-analyzed chunk
text, and a read copy of what a search returns (chunk texts and vectors, the committed article versions).

Why FTS5 and not bm25s or a LangChain BM25Retriever: both of those rebuild their whole index to add one document;
FTS5 (in Python's own sqlite3) is persisted, updated per article inside transactions, and survives a crash. Text is
analyzed by `rag.terms.index_terms` (stemming, stop words, umlaut folding, compound parts) before it reaches FTS5,
so FTS5 only has to split on spaces and rank with its built-in bm25().

Why a read copy: every Chroma call that returns texts, metadata or vectors costs ≈ 4 ms here whatever it returns
(ids and distances alone ≈ 1.5 ms), and a search needed three (the dense side's passages, the keyword side's, their
articles). With the copy a search asks Chroma only for the nearest ids and reads the rest here in one query. The
copy's article rows are what readers take as committed (see `rag.store.Store.write_articles`).
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rag.schema import Article, Chunk
from rag.terms import index_terms

# 2: chunk rows with text and vector, and committed article rows (before: only the passages' owners). A file of an
# older version is emptied on opening and filled again from Chroma (`rag.store.Store`).
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    terms, chunk_id UNINDEXED, article_id UNINDEXED, content_hash UNINDEXED,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '.,'"
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, article_id TEXT NOT NULL, content_hash TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL, text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks (article_id, content_hash);
CREATE INDEX IF NOT EXISTS chunks_by_id ON chunks (chunk_id);
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, story TEXT NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, source TEXT NOT NULL, date TEXT NOT NULL, agency TEXT NOT NULL, url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# `chunks` holds each passage under the same rowid, with an index by article version: FTS5 cannot index its
# UNINDEXED columns, so deleting an article's passages by those columns scans the whole table (quadratic at 100k).
_TABLES_EVER = ("passages", "owners", "chunks", "articles", "state")  # of any version, for the reset
_COMMITTED = """
SELECT c.chunk_id, c.article_id, c.chunk_index, c.start, c.stop, c.text, c.vector,
       a.title, a.text, a.source, a.date, a.agency, a.url, a.story
FROM chunks c JOIN articles a ON a.article_id = c.article_id AND a.content_hash = c.content_hash
WHERE c.chunk_id IN ({})
"""


POSTINGS_BUDGET = 10_000  # passages scored per keyword search at most (≈ 20 ms at 100k articles); see README, "Scale"


class IndexedChunk(NamedTuple):
    """A passage of a committed article version as the search file holds it."""

    chunk: Chunk
    article: Article
    story: str
    vector: np.ndarray


class KeywordIndex:
    """BM25 search over the passages of one index key, and the read copy of their chunks and committed articles;
    thread-safe, one connection per process."""

    def __init__(self, path: Path | str):
        self._lock = threading.Lock()
        self.path = Path(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers are not blocked by the writer
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self._create()
        self._db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms USING fts5vocab(main, 'passages', 'row')")
        self._inode = os.stat(self.path).st_ino

    def _create(self) -> None:
        """Create the tables; a file of an older version loses its own first (another process may be doing the
        same: the write lock makes it happen once)."""
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

    def is_current(self) -> bool:
        """Whether the file this connection reads is still the one at `path`: another process may have deleted it
        (dropping the build) and made a new one there (building it again); this connection would read the old. The
        inode tells them apart: the old one cannot be reused while this connection holds the file open."""
        try:
            return os.stat(self.path).st_ino == self._inode
        except FileNotFoundError:
            return False

    def close(self) -> None:
        """Close the connection (the file is about to be deleted)."""
        with self._lock:
            self._db.close()

    def add(self, versions: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]]) -> None:
        """Index the chunks of article versions `(article, chunks, vectors)` in one transaction (the title counts as
        part of every passage, as in the vectors). Searches see them once `commit` names their version."""
        rows = [
            (" ".join(index_terms(f"{a.title}\n{c.text}")), c, a.content_hash, np.asarray(v, dtype=np.float32))
            for a, chunks, vectors in versions
            for c, v in zip(chunks, vectors, strict=True)
        ]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._drop("article_id = ? AND content_hash = ?", [(a.article_id, a.content_hash) for a, _, _ in versions])
            for terms, c, content_hash, vector in rows:
                rowid = self._db.execute(
                    "INSERT INTO chunks (chunk_id, article_id, content_hash, chunk_index, start, stop, text, vector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (c.chunk_id, c.article_id, content_hash, c.index, c.start, c.end, c.text, vector.tobytes()),
                ).lastrowid
                self._db.execute("INSERT INTO passages (rowid, terms, chunk_id, article_id, content_hash) "
                                 "VALUES (?, ?, ?, ?, ?)", (rowid, terms, c.chunk_id, c.article_id, content_hash))

    def commit(self, articles: Sequence[tuple[Article, str]]) -> None:
        """Make these `(article, story)` versions the ones searches see, and drop the passages of their other
        versions, in one transaction: a search sees an article's old version or its new one, whole."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.article_id, a.content_hash, story, a.title, a.text, a.source, a.date, a.agency, a.url)
                 for a, story in articles],
            )
            self._drop("article_id = ? AND content_hash != ?", [(a.article_id, a.content_hash) for a, _ in articles])

    def set_stories(self, stories: Mapping[str, str]) -> None:
        """Record the story (near-duplicate group) of these articles."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE articles SET story = ? WHERE article_id = ?",
                                 [(story, aid) for aid, story in stories.items()])

    def delete(self, article_ids: Iterable[str]) -> None:
        """Drop these articles and every passage of theirs."""
        ids = [(a,) for a in article_ids]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM articles WHERE article_id = ?", ids)
            self._drop("article_id = ?", ids)

    def _drop(self, condition: str, params: Sequence[tuple]) -> None:
        """Delete the passages whose chunk rows match `condition` (inside the caller's transaction)."""
        rows = f"SELECT rowid FROM chunks WHERE {condition}"
        self._db.executemany(f"DELETE FROM passages WHERE rowid IN ({rows})", params)
        self._db.executemany(f"DELETE FROM chunks WHERE {condition}", params)

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
            orphans = [(rowid,) for rowid, aid, h in rows if current(aid) != h]
            gone = [(aid,) for aid, (h, _) in here.items() if current(aid) != h]
            stories = [(committed[aid][1], aid) for aid, (h, story) in here.items()
                       if current(aid) == h and committed[aid][1] != story]
            if orphans or gone or stories:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany("DELETE FROM passages WHERE rowid = ?", orphans)
                    self._db.executemany("DELETE FROM chunks WHERE rowid = ?", orphans)
                    self._db.executemany("DELETE FROM articles WHERE article_id = ?", gone)
                    self._db.executemany("UPDATE articles SET story = ? WHERE article_id = ?", stories)
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
        """(chunk_id, BM25 score, higher is better) of the best `n` passages for the query's terms.

        FTS5 scores every passage that holds any query term, so the time grows with the terms' passage counts. The
        terms are taken rarest first while their counts add up to at most `POSTINGS_BUDGET` (the rarest always): in
        a small index that is every term; in a large one the commonest terms, whose BM25 weight is smallest, are
        left out."""
        query_terms = list(dict.fromkeys(index_terms(query)))
        marks = ",".join("?" * len(query_terms))
        with self._lock:  # one statement for all terms: 0.4 ms less than one per term (11 on average)
            found = self._db.execute(f"SELECT term, doc FROM temp.terms WHERE term IN ({marks})", query_terms)
            df = dict(found.fetchall())
        kept: list[str] = []
        postings = 0
        for term in sorted((t for t in query_terms if df.get(t)), key=df.get):
            if kept and postings + df[term] > POSTINGS_BUDGET:
                break
            kept.append(term)
            postings += df[term]
        if not kept:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in kept)
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_id, bm25(passages) FROM passages WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?",
                (match, n),
            ).fetchall()
        return [(cid, -score) for cid, score in rows]  # FTS5's bm25() is negative: lower is better

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
