"""The keyword side's inverted index: BM25 over German-analyzed passages, by tantivy (a Rust search library).

Why tantivy and not SQLite FTS5 (which held the postings before): FTS5's bm25() scores every passage that holds any
query term, ≈ 12–17 ms a search at 10k articles here; tantivy finds the same top passages (BM25, k1 1.2, b 0.75)
in under 1 ms, skipping blocks that cannot reach the top (block-max WAND). Like FTS5 it is persisted and updated
per write, and many processes can read while one writes (see README, "Scale").

Each document is one passage: its terms (`rag.terms.index_terms`, space-separated, so tantivy only splits on
spaces) and the rowid of its row in the search file (`rag.keyword`), which is what a search returns.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import tantivy

_SCHEMA = tantivy.SchemaBuilder()
_SCHEMA.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")  # no positions: no phrase queries
_SCHEMA.add_integer_field("rowid", indexed=True, fast=True)
SCHEMA = _SCHEMA.build()
WRITER_HEAP = 50_000_000  # bytes the writer buffers before it writes a segment itself


class Postings:
    """The passages' postings in folder `path`. Reads are thread-safe and see every commit, by this process or
    another; opening and writes must be serialized by the caller (tantivy allows one writer per folder, and a
    damaged folder is replaced on opening)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        except (ValueError, OSError):  # another schema or version, or damaged: `rag.keyword` fills it again
            self.wipe(self.path)
            self.path.mkdir(parents=True)
            self._index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        self._index.config_reader(reload_policy="Manual")  # `search` reloads: commits are seen at once
        self._folder = os.open(self.path, os.O_RDONLY)  # held open, so that its inode is not given to a new folder

    def is_current(self) -> bool:
        """Whether the folder at `path` is still the one opened: tantivy reloads by path, so after another process
        dropped the folder (and made a new one there) it would read that one's postings, whose rowids name other
        rows."""
        try:
            return os.stat(self.path).st_ino == os.fstat(self._folder).st_ino
        except OSError:  # the folder gone, or this object closed
            return False

    def close(self) -> None:
        """Let go of the folder (it is about to be deleted)."""
        if getattr(self, "_folder", -1) >= 0:
            os.close(self._folder)
            self._folder = -1

    __del__ = close

    @staticmethod
    def wipe(path: Path | str) -> None:
        """Delete the postings folder at `path` (a reader elsewhere keeps what it has open)."""
        shutil.rmtree(path, ignore_errors=True)

    def count(self) -> int:
        """How many passages are indexed."""
        self._index.reload()
        return self._index.searcher().num_docs

    def search(self, terms: Sequence[str], n: int) -> list[tuple[int, float]]:
        """(rowid, BM25 score) of the best `n` passages holding any of `terms`, best first; none from a folder that is
        no longer the one opened."""
        if not terms or not self.is_current():
            return []
        query = tantivy.Query.boolean_query([
            (tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, "terms", t, index_option="freq")) for t in terms
        ])
        self._index.reload()  # ≈ 30 µs: reads what the last commit of any process left
        searcher = self._index.searcher()
        hits = searcher.search(query, n, count=False).hits
        rowids = searcher.fast_field_values("rowid", [address for _, address in hits])
        return [(rowid, score) for rowid, (score, _) in zip(rowids, hits, strict=True)]

    def update(self, removed: Iterable[int], added: Iterable[tuple[int, str]], replace_all: bool = False) -> None:
        """Remove the passages of these rowids (or all, with `replace_all`), add `(rowid, terms)` passages, and
        commit: readers see all of it or none."""
        writer = self._index.writer(WRITER_HEAP, 1)
        try:
            if replace_all:
                writer.delete_all_documents()
            for rowid in removed:
                writer.delete_documents_by_term("rowid", rowid)
            for rowid, terms in added:
                writer.add_document(tantivy.Document(rowid=rowid, terms=terms))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()  # releases the folder's writer lock
        self._index.reload()
