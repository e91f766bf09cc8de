"""The Chroma side of the index; the only module that imports chromadb.

Two collections per (embedding model, chunking settings) pair, so vectors of two models never mix:
- `chunks-…`: one record per passage with our own vectors (Chroma's default embedding function would download).
- `articles-…`: one record per article: full text and metadata. Its content hash is the commit point of a write
  for ingest (what is indexed); this machine's search file (rag.keyword) holds a read copy of the committed
  versions, whose commit comes last, so a reader never sees half an article (see `write_articles`).
"""
from __future__ import annotations

import calendar
import os
from datetime import datetime, timezone
import hashlib
import re
import shutil
import sqlite3
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
from filelock import FileLock

from rag.keyword import IndexedChunk, KeywordIndex
from rag.schema import Article, Chunk, byline_agencies

if TYPE_CHECKING:
    from chromadb import Collection

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


# How chunks are cut and what they carry. Part of every build's key: raising it makes the next ingest rebuild the
# index once, as a change of model or chunk size does, while readers keep the old build until the new one is complete.
# 2: chunks filled to the token budget (special tokens counted once per chunk), no repeated title; agencies stored
# one by one; English function words no longer keyword terms. 3: sentences packed by their summed token counts (the
# overlap counted right: it held one sentence more).
INDEX_FORMAT = 3
STATE_COLLECTION = "newsrag-state"  # server mode: the small named values (active build, stamps) as its metadata
BUILD_STAMPS = ("updated", "stories", "generation")  # per-build named values: `<stamp>-<key>.txt`


def open_database(index_dir: Path | str, chroma_url: str | None = None) -> Database:
    """The `Database` of an index directory (and Chroma server): one per process, since Chroma is unsafe with several
    local clients on one path and a keyword file wants one connection per process."""
    return _database(str(Path(index_dir).resolve()), chroma_url or None)


@lru_cache(maxsize=8)
def _database(index_dir: str, chroma_url: str | None) -> Database:
    return Database(index_dir, chroma_url)


class Database:
    """One Chroma database and the small named values beside it (`active.json`, when the index last changed, …).

    Locally (`chroma_url` None) it is `index_dir` with a `PersistentClient`, and the values are files there. With a
    Chroma server (`HttpClient`), the server holds the collections and the values (as metadata of one collection),
    so every process on every machine sees the same index; `index_dir` then holds only this machine's keyword files
    (derived from the server's chunks, see `Store.sync_keyword`) and the writer lock."""

    def __init__(self, index_dir: Path | str, chroma_url: str | None = None):
        self.url = chroma_url
        root = Path(index_dir).resolve()
        if chroma_url:  # one folder per server: the keyword files of one server must never serve another
            root = root / f"server-{hashlib.sha256(chroma_url.encode()).hexdigest()[:10]}"
        self.dir = root
        self._keyword: dict[str, KeywordIndex] = {}
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The index's location, for messages."""
        return f"the Chroma server at {self.url}" if self.url else f"the index at {self.dir}"

    @cached_property
    def client(self):
        """The Chroma client; raises IndexUnavailable saying what to do when the database cannot be opened."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if self.url:
                url = urlsplit(self.url)
                client = chromadb.HttpClient(
                    host=url.hostname or "localhost", port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https", settings=chroma_settings,
                )
                client.heartbeat()
                return client
            self.dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.dir), settings=chroma_settings)
        except Exception as e:  # chromadb raises many types for an unreachable server or a damaged database
            raise self.unusable(e) from None

    def unusable(self, error: Exception) -> IndexUnavailable:
        """The error to raise when Chroma fails with `error`: what happened and what to do."""
        what = f"{type(error).__name__}: {str(error)[:200]}"
        if self.url:
            return IndexUnavailable(
                f"cannot use the Chroma server at {self.url} ({what}); start it with `chroma run --path DIR --port "
                f"{urlsplit(self.url).port or 8000}`, or unset RAG_CHROMA_URL to use a local index"
            )
        return IndexUnavailable(
            f"the index at {self.dir} cannot be opened ({what}); delete the folder and run `python -m ingest` to "
            "rebuild it"
        )

    def exists(self) -> bool:
        """Whether a local index was ever written here (always True for a server: its collections say)."""
        return bool(self.url) or (self.dir / "chroma.sqlite3").exists()

    def collection_names(self) -> set[str]:
        """The names of the database's collections."""
        try:
            return {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        except IndexUnavailable:
            raise
        except Exception as e:
            raise self.unusable(e) from None

    # -- small named values ------------------------------------------------------------------------------------

    def read(self, name: str) -> str | None:
        """The value stored under `name`, or None."""
        if self.url:
            return self._server_values().get(name) or None
        try:
            return (self.dir / name).read_text("utf-8")
        except FileNotFoundError:
            return None

    def write(self, name: str, value: str | None) -> None:
        """Store `value` under `name` (None removes it); readers see the old or the new value, never a part."""
        if self.url:  # the one writer holds the writer lock, so read-modify-write is safe
            state = self.client.get_or_create_collection(STATE_COLLECTION, embedding_function=None)
            state.modify(metadata={**(state.metadata or {}), name: value or ""})  # "" = removed: modify replaces all
            return
        path = self.dir / name
        if value is None:
            path.unlink(missing_ok=True)
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(value, "utf-8")
        os.replace(tmp, path)

    def stamp(self, name: str) -> object:
        """Something that changes whenever the value under `name` does (cheap: checked on every search)."""
        if self.url:
            return self.read(name)
        try:
            st = os.stat(self.dir / name)
            return st.st_ino, st.st_mtime_ns
        except FileNotFoundError:
            return None

    def _server_values(self) -> dict[str, str]:
        from chromadb.errors import NotFoundError

        try:
            state = self.client.get_collection(STATE_COLLECTION, embedding_function=None)
        except NotFoundError:  # nothing was ever written
            return {}
        except IndexUnavailable:
            raise
        except Exception as e:
            raise self.unusable(e) from None
        return dict(state.metadata or {})

    # -- builds --------------------------------------------------------------------------------------------------

    def keyword_index(self, key: str) -> KeywordIndex:
        """The keyword file of build `key` on this machine (one connection per file and process)."""
        with self._lock:
            if key in self._keyword and not self._keyword[key].is_current():  # dropped and built again meanwhile
                self._keyword.pop(key).close()
            if key not in self._keyword:
                self.dir.mkdir(parents=True, exist_ok=True)
                self._keyword[key] = self._open_keyword(self.dir / f"keyword-{key}.sqlite3", key)
            return self._keyword[key]

    def _open_keyword(self, path: Path, key: str) -> KeywordIndex:
        """The keyword file at `path`; a damaged one is moved aside for a new one, which `Store` fills from the
        stored chunks (the file holds nothing that is not in Chroma too)."""
        try:
            return KeywordIndex(path)
        except sqlite3.DatabaseError as e:
            with FileLock(self.dir / f"keyword-{key}.lock"):
                try:
                    return KeywordIndex(path)  # another process has replaced it meanwhile
                except sqlite3.DatabaseError:
                    aside = path.with_name(path.name + ".damaged")
                    for suffix in ("-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
                    os.replace(path, aside)
                    print(f"warning: {path} was damaged ({e}); moved to {aside.name}, rebuilding it from the index",
                          file=sys.stderr, flush=True)
                    return KeywordIndex(path)

    def _vector_folders(self, collection: str) -> list[Path]:
        """The folders of a local collection's vector index (its segment ids in Chroma's catalogue); none on a
        server, or if the catalogue cannot be read."""
        if self.url:
            return []
        try:
            cid = str(self.client.get_collection(collection).id)
            with closing(sqlite3.connect(f"file:{self.dir / 'chroma.sqlite3'}?mode=ro", uri=True)) as catalogue:
                rows = catalogue.execute("SELECT id FROM segments WHERE collection = ? AND scope = 'VECTOR'", (cid,))
                return [self.dir / row[0] for row in rows if re.fullmatch(r"[0-9a-f-]{36}", row[0])]
        except Exception:  # noqa: BLE001 - another Chroma version's catalogue: leave the folders, lose nothing
            return []

    def drop_builds(self, keep: set[str]) -> list[str]:
        """Delete every build (collections, keyword file, stamps) whose key is not in `keep`; returns their keys."""
        names = self.collection_names()
        dropped = sorted({n.split("-", 1)[1] for n in names if n.startswith(("chunks-", "articles-"))} - keep)
        for key in dropped:
            for name in (f"chunks-{key}", f"articles-{key}"):
                if name in names:
                    folders = self._vector_folders(name)
                    self.client.delete_collection(name)
                    for folder in folders:  # Chroma 1.x leaves them behind (chroma-core/chroma#5520)
                        shutil.rmtree(folder, ignore_errors=True)
            with self._lock:
                if (index := self._keyword.pop(key, None)) is not None:
                    index.close()  # else a later build of the same key would write into the deleted file
            for stamp in BUILD_STAMPS:
                self.write(f"{stamp}-{key}.txt", None)
            for path in self.dir.glob(f"keyword-{key}.*"):  # keyword-KEY.sqlite3(-wal/-shm), .postings(.lock)
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        return dropped


def index_key(model_id: str, chunk_tokens: int, overlap_tokens: int) -> str:
    """A collection-name-safe key for an embedding model, chunking settings and `INDEX_FORMAT`."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", model_id.rsplit("/", 1)[-1]).strip("-").lower()[:40] or "model"
    digest = hashlib.sha256(f"{model_id}|{chunk_tokens}|{overlap_tokens}|{INDEX_FORMAT}".encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def date_bounds(date: str) -> tuple[int, int] | None:
    """An ISO date as precise as known → the first and last day it covers, as yyyymmdd integers (Chroma filters
    compare numbers only)."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", date or "")
    if not m:
        return None
    y, mo, d = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    try:
        datetime(y, mo or 1, d or 1)
    except ValueError:
        return None  # "2025-13", "2025-02-30": not a date
    if (m[2] and not mo) or (m[3] and not d):
        return None  # "2025-00"
    if d:
        return (y * 10000 + mo * 100 + d,) * 2
    if mo:
        return y * 10000 + mo * 100 + 1, y * 10000 + mo * 100 + calendar.monthrange(y, mo)[1]
    return y * 10000 + 101, y * 10000 + 1231


class Store:
    """The chunk and article collections of one index key in one Chroma database."""

    def __init__(self, db: Database, key: str, create: bool = False):
        self.db = db
        self.key = key
        if not create and not db.exists():
            raise IndexUnavailable(f"no index at {db.dir}; run `python -m ingest` first")
        names = db.collection_names()
        wanted = {f"chunks-{key}", f"articles-{key}"}
        if not create and not wanted <= names:
            others = sorted(n.removeprefix("articles-") for n in names if n.startswith("articles-"))
            if others:
                raise IndexUnavailable(
                    f"{db.where} was built for another embedding model or chunking "
                    f"({', '.join(others)}; wanted {key}); run `python -m ingest` to index with the current settings"
                )
            raise IndexUnavailable(f"no index in {db.where}; run `python -m ingest` first")
        space = {"hnsw": {"space": "cosine"}}
        self.chunks = db.client.get_or_create_collection(f"chunks-{key}", configuration=space, embedding_function=None)
        self.articles = db.client.get_or_create_collection(
            f"articles-{key}", configuration=space, embedding_function=None
        )
        self.keyword = db.keyword_index(key)
        if self.keyword.is_empty() and self.articles.count():  # a keyword file lost, damaged or older: built again
            self.sync_keyword(force=True)

    # -- reading -------------------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(articles, chunks) in the index."""
        return self.articles.count(), self.chunks.count()

    def agencies(self) -> list[str]:
        """The distinct source agencies the indexed articles' bylines name (from the search file: Chroma's manifest
        takes seconds at 10k articles, and the page asks on every load)."""
        self.sync_keyword()
        names = {name for byline in self.keyword.bylines() for name in byline_agencies(byline)}
        return sorted(names, key=str.casefold)

    def last_update(self) -> str:
        """When an ingest last changed this index (ISO time, UTC), or "" if unknown."""
        return (self.db.read(f"updated-{self.key}.txt") or "").strip()

    def grouped_with(self) -> float | None:
        """The near-duplicate threshold the stories were last grouped with, or None when they need grouping (never
        grouped, or articles were written since)."""
        try:
            return float(self.db.read(f"stories-{self.key}.txt") or "")
        except ValueError:
            return None

    def mark_grouped(self, threshold: float | None) -> None:
        """Record that the stories are grouped with `threshold`; None: they need grouping again (called before
        articles are written, so an interrupted sync leaves them marked)."""
        self.db.write(f"stories-{self.key}.txt", None if threshold is None else f"{threshold}\n")

    def mark_updated(self) -> None:
        """Record that the index changed now."""
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.db.write(f"updated-{self.key}.txt", stamp + "\n")

    def manifest(self) -> dict[str, dict]:
        """article_id → stored metadata (content_hash, source, …) of every committed article."""
        got = _get_all(self.articles, ["metadatas"])
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
        return self.hybrid(vector, n, [], where)[0]

    def hybrid(
        self, vector: np.ndarray, n: int, found: Sequence[tuple[str, float]], where: dict | None = None
    ) -> tuple[list[StoredChunk], list[tuple[StoredChunk, float]]]:
        """Both sides of a hybrid search: the `n` nearest committed chunks within `where` (as `query`), and the
        committed chunks of `keyword_matches` with their BM25 score (as `keyword_query`; `where` is not applied to
        them: the caller filters by article). One Chroma call, for the nearest ids; the passages, articles and
        vectors come from this machine's search file in one read (see rag.keyword)."""
        nearest = self._nearest(vector, n, where) if n else []
        rows = self.keyword.committed([cid for cid, _ in nearest] + [cid for cid, _ in found])
        dense = [_stored(rows[cid], sim) for cid, sim in nearest if cid in rows]
        by_id = {c.chunk.chunk_id: c for c in dense}
        vector = np.asarray(vector, dtype=np.float32)
        keyword = [
            (by_id.get(cid) or _stored(rows[cid], float(rows[cid].vector @ vector)), bm25)
            for cid, bm25 in found if cid in rows
        ]
        return dense, keyword

    def embeddings(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these chunks (those of committed versions: an ingest may have replaced some)."""
        return {cid: row.vector for cid, row in self.keyword.committed(chunk_ids).items()}

    def keyword_query(self, query: str, n: int, vector: np.ndarray) -> list[tuple[StoredChunk, float]]:
        """The `n` best BM25 matches of committed article versions with their BM25 score, best first; each also
        gets its cosine similarity to `vector` from its stored embedding."""
        return self.hybrid(vector, 0, self.keyword_matches(query, n))[1]

    def keyword_matches(self, query: str, n: int) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) of the `n` best keyword matches, best first (this machine's keyword file brought
        in line first)."""
        self.sync_keyword()
        return self.keyword.search(query, n)

    def _nearest(self, vector: np.ndarray, n: int, where: dict | None) -> list[tuple[str, float]]:
        res = self.chunks.query(  # Chroma 1.x returns fewer than n when there are fewer: no count() round trip
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=n,
            where=where or None,
            include=["distances"],  # texts and metadata cost ≈ 4 ms more per call: read from the search file
        )
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0])]

    def chunks_of(self, article_ids: Sequence[str]) -> list[tuple[Chunk, str, np.ndarray]]:
        """All stored chunks of these articles with the content hash they belong to and their vector."""
        if not article_ids:
            return []
        got = self.chunks.get(where=_in("article_id", article_ids), include=["documents", "metadatas", "embeddings"])
        return [(_chunk(i, d, m), m["content_hash"], np.asarray(v, dtype=np.float32))
                for i, d, m, v in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])]

    # -- writing (callers hold the writer lock) --------------------------------------------------------------

    def write_articles(
        self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]], signatures: Mapping[str, str] | None = None
    ) -> None:
        """Add or replace articles `(article, chunks, vectors)` with their near-duplicate `signatures` (article_id →
        ingest.near_duplicates.signature): new chunks first (in Chroma and the search file), then the article records
        (the commit point of what is indexed), then the old versions' chunks go, and last the search file takes the
        new versions (the commit point of what searches see). A crash in between leaves invisible leftovers, or a
        search file one version behind, which the next sync repairs. One call per step for the whole batch: Chroma's
        per-call cost dominates small writes."""
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
        self.keyword.add(items)
        self.articles.upsert(
            ids=ids,
            embeddings=[_ARTICLE_VECTOR] * len(items),
            documents=[a.text for a, _, _ in items],
            metadatas=[_article_meta(a, len(chunks), (signatures or {}).get(a.article_id, "")) for a, chunks, _ in items],
        )
        stale = old_ids - {c.chunk_id for c in new_chunks}
        if stale:
            self.chunks.delete(ids=sorted(stale))
        self.keyword.commit([(a, a.article_id) for a, _, _ in items])  # its own story until grouped (set_stories)
        self._new_generation()

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
            self.keyword.set_stories({aid: stories.get(aid, aid) for aid in changed})
            self._new_generation()

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove articles: from the search file first (readers stop seeing them), then the records, then their
        chunks."""
        if article_ids:
            self.keyword.delete(article_ids)
            self.articles.delete(ids=list(article_ids))
            self.chunks.delete(where=_in("article_id", article_ids))
            self._new_generation()

    def delete_orphans(self) -> int:
        """Remove chunks whose article version is not the committed one (left by an interrupted write), and bring
        this machine's keyword file in line; returns how many chunks and keyword passages went."""
        manifest = self.manifest()
        committed = {i: m["content_hash"] for i, m in manifest.items()}
        got = _get_all(self.chunks, ["metadatas"])
        orphans = [
            cid for cid, m in zip(got["ids"], got["metadatas"]) if committed.get(m["article_id"]) != m["content_hash"]
        ]
        if orphans:
            self.chunks.delete(ids=orphans)
        return len(orphans) + self.sync_keyword(force=True, manifest=manifest)

    # -- the search file on a Chroma server ----------------------------------------------------------------------
    # A local search file (keyword rows and the read copy) is the index's own, written in step with the vectors (an
    # interrupted write is repaired by the next ingest). With a server, each machine's file is derived: every write
    # gives the server's articles a new random generation; the writer updates its machine's file in step and records
    # the generation in it, and a reader whose file holds another generation brings the file in line first.

    def _keyword_lock(self) -> FileLock:
        return FileLock(self.db.dir / f"keyword-{self.key}.lock")  # the processes of one machine share the file

    def _new_generation(self) -> None:
        if self.db.url:
            generation = uuid.uuid4().hex
            with self._keyword_lock():  # a reader checking meanwhile sees both values changed, not one
                self.keyword.set_generation(generation)
                self.db.write(f"generation-{self.key}.txt", generation)

    def sync_keyword(self, force: bool = False, manifest: Mapping[str, dict] | None = None) -> int:
        """Bring this machine's search file in line with the committed articles: with a server, when a writer
        changed them since; always with `force`. Drops passages and articles of other versions, takes the stories,
        and adds the missing versions from the stored chunks and articles (analyzed again, not re-embedded).
        `manifest`: what `manifest()` just returned, if the caller has it. Returns how many passages were dropped."""
        if not force and (not self.db.url or self._generation() == self.keyword.generation()):
            return 0
        with self._keyword_lock():
            generation = self._generation()
            if not force and generation == self.keyword.generation():
                return 0  # another process of this machine caught up meanwhile
            manifest = self.manifest() if manifest is None else manifest
            committed = {aid: (m["content_hash"], m.get("story") or aid) for aid, m in manifest.items()}
            dropped, missing = self.keyword.reconcile(committed)
            for i in range(0, len(missing), 500):
                articles = self._articles_with_story(missing[i : i + 500])
                found: dict[str, tuple[list[Chunk], list[np.ndarray]]] = {aid: ([], []) for aid in articles}
                for chunk, content_hash, vector in self.chunks_of(list(articles)):
                    if articles[chunk.article_id][0].content_hash == content_hash:
                        found[chunk.article_id][0].append(chunk)
                        found[chunk.article_id][1].append(vector)
                self.keyword.add([(articles[aid][0], cs, vs) for aid, (cs, vs) in found.items()])
                self.keyword.commit(list(articles.values()))
            self.keyword.set_generation(generation)
        return dropped

    def _generation(self) -> str:
        return (self.db.read(f"generation-{self.key}.txt") or "") if self.db.url else ""


def _stored(row: IndexedChunk, similarity: float) -> StoredChunk:
    return StoredChunk(row.chunk, row.article, similarity, row.story)


# Local Chroma 1.5 binds one SQL variable per record whose metadata it returns, and SQLite allows 32,766: a `get` of
# more records with metadata fails ("too many SQL variables", chroma-core/chroma#7687; 10k articles: 30,647 chunks).
GET_BATCH = 10_000


def _get_all(collection: Collection, include: list[str]) -> dict[str, list]:
    """`collection.get(include=include)` of every record: the ids first, then the rest in batches of ids (a record
    written meanwhile is left out, one deleted meanwhile is missing; none is skipped, as offset paging might)."""
    ids = collection.get(include=[])["ids"]
    out: dict[str, list] = {"ids": [], **{field: [] for field in include}}
    for i in range(0, len(ids), GET_BATCH):
        got = collection.get(ids=ids[i : i + GET_BATCH], include=include)
        for field in out:
            out[field] += got[field]
    return out


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
    if article.agencies:  # a list, filtered with `$contains`; Chroma takes no empty one
        meta["agencies"] = list(article.agencies)
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
