"""The Chroma side of the index; the only module that imports chromadb.

Two collections per (embedding model, chunking settings) pair, so vectors of two models never mix:
- `chunks-…`: one record per passage with our own vectors (Chroma's default embedding function would download).
- `articles-…`: one record per article: full text and metadata. Its content hash is the commit point of a write,
  so a reader never sees half an article (see `write_articles`).
"""
from __future__ import annotations

import calendar
from datetime import datetime, timezone
import hashlib
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.keyword import KeywordIndex
from rag.schema import Article, Chunk

_ARTICLE_VECTOR = [1.0]  # the articles collection is looked up by id only; Chroma still wants a vector


class IndexUnavailable(Exception):
    """The index is missing, empty, built for another model, or unusable; the message says what to do."""


@dataclass(frozen=True)
class StoredChunk:
    """A stored chunk with its committed article, its cosine similarity to the query and the story the article
    belongs to (the id of the first of its near-duplicates, see ingest.near_duplicates)."""

    chunk: Chunk
    article: Article
    similarity: float
    story: str = ""


@lru_cache(maxsize=8)
def get_client(index_dir: str):
    """One Chroma client per index directory and process (Chroma is unsafe with several clients on one path)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    Path(index_dir).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=index_dir, settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


_KEYWORD_INDEXES: dict[str, KeywordIndex] = {}  # one connection per file and process, like the Chroma client
_KEYWORD_LOCK = threading.Lock()


def _keyword_index(path: str) -> KeywordIndex:
    with _KEYWORD_LOCK:
        if path not in _KEYWORD_INDEXES:
            _KEYWORD_INDEXES[path] = KeywordIndex(path)
        return _KEYWORD_INDEXES[path]


def index_key(model_id: str, chunk_tokens: int, overlap_tokens: int) -> str:
    """A collection-name-safe key for an embedding model and chunking settings."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", model_id.rsplit("/", 1)[-1]).strip("-").lower()[:40] or "model"
    digest = hashlib.sha256(f"{model_id}|{chunk_tokens}|{overlap_tokens}".encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def drop_builds(index_dir: Path | str, keep: set[str]) -> list[str]:
    """Delete every build (collections, keyword file, update stamp) whose key is not in `keep`; returns their keys."""
    client = get_client(str(Path(index_dir).resolve()))
    names = [c.name if hasattr(c, "name") else str(c) for c in client.list_collections()]
    dropped = sorted({n.split("-", 1)[1] for n in names if n.startswith(("chunks-", "articles-"))} - keep)
    for key in dropped:
        for name in (f"chunks-{key}", f"articles-{key}"):
            if name in names:
                client.delete_collection(name)
        keyword_file = str(Path(index_dir).resolve() / f"keyword-{key}.sqlite3")
        with _KEYWORD_LOCK:
            if (index := _KEYWORD_INDEXES.pop(keyword_file, None)) is not None:
                index.close()  # else a later build of the same key would write into the deleted file
        for path in Path(index_dir).glob(f"*-{key}.*"):  # keyword-KEY.sqlite3(-wal/-shm), updated-KEY.txt
            path.unlink(missing_ok=True)
    return dropped


def date_bounds(date: str) -> tuple[int, int] | None:
    """An ISO date as precise as known → the first and last day it covers, as yyyymmdd integers (Chroma filters
    compare numbers only)."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", date or "")
    if not m:
        return None
    y, mo, d = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    if d:
        return (y * 10000 + mo * 100 + d,) * 2
    if mo:
        return y * 10000 + mo * 100 + 1, y * 10000 + mo * 100 + calendar.monthrange(y, mo)[1]
    return y * 10000 + 101, y * 10000 + 1231


class Store:
    """The chunk and article collections of one index key in one Chroma database."""

    def __init__(self, index_dir: Path | str, key: str, create: bool = False):
        self.index_dir = str(Path(index_dir).resolve())
        self.key = key
        if not create and not (Path(self.index_dir) / "chroma.sqlite3").exists():
            raise IndexUnavailable(f"no index at {self.index_dir}; run `python -m ingest` first")
        try:
            self._client = get_client(self.index_dir)
            names = {c.name if hasattr(c, "name") else str(c) for c in self._client.list_collections()}
        except Exception as e:  # chromadb raises many types for a damaged or foreign database
            raise IndexUnavailable(
                f"the index at {self.index_dir} cannot be opened ({type(e).__name__}: {str(e)[:200]}); "
                "delete the folder and run `python -m ingest` to rebuild it"
            ) from None
        wanted = {f"chunks-{key}", f"articles-{key}"}
        if not create and not wanted <= names:
            others = sorted(n.removeprefix("articles-") for n in names if n.startswith("articles-"))
            if others:
                raise IndexUnavailable(
                    f"the index at {self.index_dir} was built for another embedding model or chunking "
                    f"({', '.join(others)}; wanted {key}); run `python -m ingest` to index with the current settings"
                )
            raise IndexUnavailable(f"no index at {self.index_dir}; run `python -m ingest` first")
        space = {"hnsw": {"space": "cosine"}}
        self.chunks = self._client.get_or_create_collection(f"chunks-{key}", configuration=space, embedding_function=None)
        self.articles = self._client.get_or_create_collection(
            f"articles-{key}", configuration=space, embedding_function=None
        )
        self.keyword = _keyword_index(str(Path(self.index_dir) / f"keyword-{key}.sqlite3"))

    # -- reading -------------------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(articles, chunks) in the index."""
        return self.articles.count(), self.chunks.count()

    def agencies(self) -> list[str]:
        """The distinct source agencies of the indexed articles."""
        return sorted({m.get("agency", "") for m in self.manifest().values()} - {""})

    def last_update(self) -> str:
        """When an ingest last changed this index (ISO time, UTC), or "" if unknown."""
        path = Path(self.index_dir) / f"updated-{self.key}.txt"
        return path.read_text().strip() if path.exists() else ""

    def grouped_with(self) -> float | None:
        """The near-duplicate threshold the stories were last grouped with, or None when they need grouping (never
        grouped, or articles were written since)."""
        path = Path(self.index_dir) / f"stories-{self.key}.txt"
        try:
            return float(path.read_text())
        except (OSError, ValueError):
            return None

    def mark_grouped(self, threshold: float | None) -> None:
        """Record that the stories are grouped with `threshold`; None: they need grouping again (called before
        articles are written, so an interrupted sync leaves them marked)."""
        path = Path(self.index_dir) / f"stories-{self.key}.txt"
        if threshold is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(f"{threshold}\n")

    def mark_updated(self) -> None:
        """Record that the index changed now."""
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        (Path(self.index_dir) / f"updated-{self.key}.txt").write_text(stamp + "\n")

    def manifest(self) -> dict[str, dict]:
        """article_id → stored metadata (content_hash, source, …) of every committed article."""
        got = self.articles.get(include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    def get_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The committed articles with these ids."""
        return {i: article for i, (article, _) in self._articles_with_story(article_ids).items()}

    def _articles_with_story(self, article_ids: Iterable[str]) -> dict[str, tuple[Article, str]]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        got = self.articles.get(ids=ids, include=["documents", "metadatas"])
        return {
            i: (_article(i, doc, meta), meta.get("story") or i)
            for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])
        }

    def query(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[StoredChunk]:
        """The `n` nearest chunks of committed article versions, best first, with cosine similarity."""
        res = self.chunks.query(  # Chroma 1.x returns fewer than n when there are fewer: no count() round trip
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=n,
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        sims = [1.0 - float(d) for d in res["distances"][0]]
        return self._committed(res["ids"][0], res["documents"][0], res["metadatas"][0], sims)

    def embeddings(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these chunks (those still stored: an ingest may have replaced some meanwhile)."""
        got = self.chunks.get(ids=list(chunk_ids), include=["embeddings"])
        return dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))

    def keyword_query(self, query: str, n: int, vector: np.ndarray) -> list[tuple[StoredChunk, float]]:
        """The `n` best BM25 matches of committed article versions with their BM25 score, best first; each also
        gets its cosine similarity to `vector` from its stored embedding."""
        found = self.keyword.search(query, n)
        if not found:
            return []
        got = self.chunks.get(ids=[cid for cid, _ in found], include=["documents", "metadatas", "embeddings"])
        sims = (np.asarray(got["embeddings"], dtype=np.float32) @ np.asarray(vector, dtype=np.float32)).tolist()
        stored = {c.chunk.chunk_id: c for c in self._committed(got["ids"], got["documents"], got["metadatas"], sims)}
        return [(stored[cid], bm25) for cid, bm25 in found if cid in stored]

    def _committed(self, ids, docs, metas, sims) -> list[StoredChunk]:
        articles = self._articles_with_story(m["article_id"] for m in metas)
        out = []
        for cid, doc, meta, sim in zip(ids, docs, metas, sims):
            article, story = articles.get(meta["article_id"], (None, ""))
            if article is None or article.content_hash != meta["content_hash"]:
                continue  # a version being written or replaced: invisible until committed
            out.append(StoredChunk(_chunk(cid, doc, meta), article, sim, story))
        return out

    def chunks_of(self, article_ids: Sequence[str]) -> list[tuple[Chunk, str]]:
        """All stored chunks of these articles with the content hash they belong to."""
        if not article_ids:
            return []
        got = self.chunks.get(where=_in("article_id", article_ids), include=["documents", "metadatas"])
        return [(_chunk(i, d, m), m["content_hash"]) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    # -- writing (callers hold the writer lock) --------------------------------------------------------------

    def write_articles(
        self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]], signatures: Mapping[str, str] | None = None
    ) -> None:
        """Add or replace articles `(article, chunks, vectors)` with their near-duplicate `signatures` (article_id →
        ingest.near_duplicates.signature): new chunks first, then the article records (the
        commit point), then the old versions' chunks go. A crash in between leaves only invisible leftovers that the
        next sync removes. One call per step for the whole batch: Chroma's per-call cost dominates small writes."""
        if not items:
            return
        ids = [a.article_id for a, _, _ in items]
        old_ids = set(self.chunks.get(where=_in("article_id", ids), include=[])["ids"])
        new_chunks = [c for _, chunks, _ in items for c in chunks]
        if new_chunks:
            self.chunks.upsert(
                ids=[c.chunk_id for c in new_chunks],
                embeddings=np.concatenate([np.asarray(v, dtype=np.float32) for _, cs, v in items if cs]),
                documents=[c.text for c in new_chunks],
                metadatas=[_chunk_meta(a, c) for a, chunks, _ in items for c in chunks],
            )
        self.keyword.add([(a.article_id, a.content_hash, chunks, a.title) for a, chunks, _ in items])
        self.articles.upsert(
            ids=ids,
            embeddings=[_ARTICLE_VECTOR] * len(items),
            documents=[a.text for a, _, _ in items],
            metadatas=[_article_meta(a, len(chunks), (signatures or {}).get(a.article_id, "")) for a, chunks, _ in items],
        )
        stale = old_ids - {c.chunk_id for c in new_chunks}
        if stale:
            self.chunks.delete(ids=sorted(stale))
        self.keyword.keep_only([(a.article_id, a.content_hash) for a, _, _ in items])

    def set_stories(
        self, stories: Mapping[str, str], signatures: Mapping[str, str], manifest: Mapping[str, dict]
    ) -> None:
        """Record which story (near-duplicate group) each article belongs to, and signatures computed for articles
        indexed without one; `manifest` is what `manifest()` returned before. Writes only what changed."""
        changed = [
            aid for aid, meta in manifest.items()
            if (aid in stories and meta.get("story", aid) != stories[aid]) or aid in signatures
        ]
        if changed:
            self.articles.update(
                ids=changed,
                metadatas=[
                    {"story": stories.get(aid, aid), **({"minhash": signatures[aid]} if aid in signatures else {})}
                    for aid in changed
                ],
            )

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove articles: the record first (readers stop seeing them), then their chunks."""
        if article_ids:
            self.articles.delete(ids=list(article_ids))
            self.chunks.delete(where=_in("article_id", article_ids))
            self.keyword.delete(article_ids)

    def delete_orphans(self) -> int:
        """Remove chunks whose article version is not the committed one (left by an interrupted write)."""
        committed = {i: m["content_hash"] for i, m in self.manifest().items()}
        got = self.chunks.get(include=["metadatas"])
        orphans = [
            cid for cid, m in zip(got["ids"], got["metadatas"]) if committed.get(m["article_id"]) != m["content_hash"]
        ]
        if orphans:
            self.chunks.delete(ids=orphans)
        return len(orphans) + self.keyword.delete_orphans(committed)


def _in(field: str, values: Sequence[str]) -> dict:
    values = list(values)
    return {field: values[0]} if len(values) == 1 else {field: {"$in": values}}


def _base_meta(article: Article) -> dict:
    meta = {
        "article_id": article.article_id,
        "content_hash": article.content_hash,
        "text_hash": article.text_hash,
        "title": article.title,
        "date": article.date,
        "agency": article.agency,
        "url": article.url,
        "source": article.source,
    }
    if bounds := date_bounds(article.date):
        meta["date_min"], meta["date_max"] = bounds
    return meta


def _chunk_meta(article: Article, chunk: Chunk) -> dict:
    return {**_base_meta(article), "chunk_index": chunk.index, "start": chunk.start, "end": chunk.end}


def _article_meta(article: Article, n_chunks: int, signature: str) -> dict:
    # a new or changed article is its own story until the sync's grouping says otherwise
    return {**_base_meta(article), "chunks": n_chunks, "minhash": signature, "story": article.article_id}


def _chunk(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(chunk_id, meta["article_id"], int(meta["chunk_index"]), text, int(meta["start"]), int(meta["end"]))


def _article(article_id: str, text: str, meta: dict) -> Article:
    return Article(
        article_id=article_id,
        title=meta.get("title", ""),
        text=text,
        source=meta.get("source", ""),
        date=meta.get("date", ""),
        agency=meta.get("agency", ""),
        url=meta.get("url", ""),
    )
