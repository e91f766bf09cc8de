"""The keyword (BM25) side of hybrid search: SQLite FTS5 over German-analyzed chunk text.

Why FTS5 and not bm25s or a LangChain BM25Retriever: both of those rebuild their whole index to add one document;
FTS5 (in Python's own sqlite3) is persisted, updated per article inside transactions, and survives a crash. Text is
analyzed by `rag.terms.index_terms` (stemming, stop words, umlaut folding, compound parts) before it reaches FTS5,
so FTS5 only has to split on spaces and rank with its built-in bm25().
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from rag.schema import Chunk
from rag.terms import index_terms

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    terms, chunk_id UNINDEXED, article_id UNINDEXED, content_hash UNINDEXED,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '.,'"
);
CREATE TABLE IF NOT EXISTS owners (rowid INTEGER PRIMARY KEY, article_id TEXT NOT NULL, content_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS owners_by_article ON owners (article_id, content_hash);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# `owners` mirrors each passage's article version under the same rowid, with an index: FTS5 cannot index its
# UNINDEXED columns, so deleting an article's passages by those columns scans the whole table (quadratic at 100k).
_NO_OWNERS = "SELECT NOT EXISTS (SELECT 1 FROM owners) AND EXISTS (SELECT 1 FROM passages)"
_FILL_OWNERS = "INSERT OR IGNORE INTO owners (rowid, article_id, content_hash) SELECT rowid, article_id, content_hash FROM passages"


POSTINGS_BUDGET = 10_000  # passages scored per keyword search at most (≈ 20 ms at 100k articles); see README, "Scale"


class KeywordIndex:
    """BM25 search over the passages of one index key; thread-safe, one connection per process."""

    def __init__(self, path: Path | str):
        self._lock = threading.Lock()
        self.path = Path(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers are not blocked by the writer
        self._db.executescript(_SCHEMA)
        self._db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms USING fts5vocab(main, 'passages', 'row')")
        if self._db.execute(_NO_OWNERS).fetchone()[0]:  # a file written before `owners` existed
            self._db.execute(_FILL_OWNERS)
        self._inode = os.stat(self.path).st_ino

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

    def add(self, versions: Sequence[tuple[str, str, Sequence[Chunk], str]]) -> None:
        """Index the chunks of article versions `(article_id, content_hash, chunks, title)` in one transaction (the
        title counts as part of every passage, as in the vectors)."""
        rows = [
            (" ".join(index_terms(f"{title}\n{c.text}")), c.chunk_id, article_id, content_hash)
            for article_id, content_hash, chunks, title in versions
            for c in chunks
        ]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._drop("article_id = ? AND content_hash = ?", [v[:2] for v in versions])
            for terms, chunk_id, article_id, content_hash in rows:
                rowid = self._db.execute("INSERT INTO owners (article_id, content_hash) VALUES (?, ?)",
                                         (article_id, content_hash)).lastrowid
                self._db.execute("INSERT INTO passages (rowid, terms, chunk_id, article_id, content_hash) "
                                 "VALUES (?, ?, ?, ?, ?)", (rowid, terms, chunk_id, article_id, content_hash))

    def keep_only(self, versions: Sequence[tuple[str, str]]) -> None:
        """Drop the passages of every other version of these `(article_id, content_hash)` articles."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._drop("article_id = ? AND content_hash != ?", versions)

    def delete(self, article_ids: Iterable[str]) -> None:
        """Drop every passage of these articles."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._drop("article_id = ?", [(a,) for a in article_ids])

    def _drop(self, condition: str, params: Sequence[tuple]) -> None:
        """Delete the passages whose owners match `condition` (inside the caller's transaction)."""
        self._db.executemany(f"DELETE FROM passages WHERE rowid IN (SELECT rowid FROM owners WHERE {condition})", params)
        self._db.executemany(f"DELETE FROM owners WHERE {condition}", params)

    def reconcile(self, committed: dict[str, str]) -> tuple[int, list[str]]:
        """Drop passages whose (article, content hash) is not in `committed`; returns how many, and the committed
        articles that have no passages here."""
        with self._lock:
            rows = self._db.execute("SELECT rowid, article_id, content_hash FROM owners").fetchall()
            orphans = [(rowid,) for rowid, aid, h in rows if committed.get(aid) != h]
            if orphans:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany("DELETE FROM passages WHERE rowid = ?", orphans)
                    self._db.executemany("DELETE FROM owners WHERE rowid = ?", orphans)
        present = {aid for _, aid, h in rows if committed.get(aid) == h}
        return len(orphans), [aid for aid in committed if aid not in present]

    def is_empty(self) -> bool:
        """Whether no passage is indexed here."""
        with self._lock:
            return not self._db.execute("SELECT EXISTS (SELECT 1 FROM owners)").fetchone()[0]

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
        with self._lock:
            df = {t: (self._db.execute("SELECT doc FROM temp.terms WHERE term = ?", (t,)).fetchone() or (0,))[0]
                  for t in query_terms}
        kept: list[str] = []
        postings = 0
        for term in sorted((t for t in query_terms if df[t]), key=df.get):
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
            return self._db.execute("SELECT count(*) FROM owners").fetchone()[0]
