"""Retrieval: a question in, ranked passages with their articles out."""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.builds import active_stamp, read_active
from rag.config import Settings, get_settings
from rag.embeddings import Embedder, get_embedder
from rag.filters import SearchFilter
from rag.schema import Article, Hit
from rag.store import Database, Store, StoredChunk, date_bounds, index_key, open_database
from rag.time_intent import TimeIntent, parse_time, without_period


FILTERED_KEYWORD_FACTOR = 10
# Embedding cost grows with length (≈ 2 ms a token here): a pasted article as a question would hold a search for
# seconds. Its first 1,000 characters say what it is about.
MAX_QUERY_CHARS = 1000


def cut_query(query: str) -> str:
    """`query`, cut at a word boundary to at most `MAX_QUERY_CHARS` characters."""
    return query if len(query) <= MAX_QUERY_CHARS else query[:MAX_QUERY_CHARS].rsplit(None, 1)[0]


def open_store(settings: Settings, create: bool = False) -> Store:
    """The store for the configured index (directory or Chroma server), embedding model and chunking settings."""
    return Store(database(settings), settings_key(settings), create=create)


def database(settings: Settings) -> Database:
    """The configured index: the local directory, or the Chroma server at `chroma_url`."""
    return open_database(settings.index_dir, settings.chroma_url)


def settings_key(settings: Settings) -> str:
    """The key of the build these settings write and read."""
    return index_key(settings.embed_model, settings.chunk_tokens, settings.chunk_overlap_tokens)


def serving_build(settings: Settings) -> tuple[Settings, str]:
    """The settings and build key to read the index with: the configured ones, or, while the index's active build
    was made with another model, chunking or index format (a rebuild not yet run or not yet complete), that build's."""
    active = read_active(database(settings))
    if active is None or active.key == settings_key(settings):
        return settings, settings_key(settings)
    return settings.model_copy(
        update={"embed_model": active.embed_model, "chunk_tokens": active.chunk_tokens,
                "chunk_overlap_tokens": active.chunk_overlap_tokens}
    ), active.key


@dataclass(frozen=True)
class IndexView:
    """One consistent view for a search or an answer: a store and the model its vectors were made with."""

    stamp: object  # of the active build when opened
    settings: Settings  # what is actually served (see serving_build)
    store: Store
    embedder: Embedder
    query_vectors: Callable[[str], np.ndarray]


class Retriever:
    """Finds the passages that best match a question. Loads the model and opens the index lazily, once, and again
    when ingest switches the index to a new build.

    >>> hits = Retriever().search("Wie viele Soldaten schickt Nordkorea?", k=3)
    """

    def __init__(self, settings: Settings | None = None, *, index_dir: Path | str | None = None):
        settings = settings or get_settings()
        self.settings = settings.model_copy(update={"index_dir": Path(index_dir)}) if index_dir else settings
        self._opened: IndexView | None = None
        self._lock = threading.Lock()

    def view(self) -> IndexView:
        """The current view; a new one once ingest has switched the index to another build."""
        stamp = active_stamp(database(self.settings))
        opened = self._opened
        if opened is None or opened.stamp != stamp:
            with self._lock:
                if self._opened is None or self._opened.stamp != stamp:
                    serving, key = serving_build(self.settings)
                    store = Store(database(serving), key)
                    embedder = get_embedder(serving.embed_model)
                    self._opened = IndexView(stamp, serving, store, embedder, lru_cache(maxsize=256)(embedder.embed_query))
                opened = self._opened
        return opened

    @property
    def store(self) -> Store:
        return self.view().store

    @property
    def embedder(self) -> Embedder:
        return self.view().embedder

    @property
    def serving(self) -> Settings:
        """The settings the index is read with; their model differs from the configured one until a rebuild for
        the configured settings is complete."""
        return self.view().settings

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; cached because answering needs it twice (search and relevance gate)."""
        return self.view().query_vectors(query.strip())

    def search(
        self, query: str, k: int | None = None, filters: SearchFilter | None = None, view: IndexView | None = None
    ) -> list[Hit]:
        """The top `k` passages for `query`, best first; one long article does not crowd out others
        (see `rank_with_cap`). `view`: search this view (an answer uses one view throughout)."""
        k = k or self.settings.top_k
        query = cut_query(query)
        intent = self.time_intent(query)
        question, query = query.strip(), without_period(query.strip(), intent)
        if not query:
            return []
        view = view or self.view()
        n = max(30, k * (self.settings.max_chunks_per_article + 2))
        # One after the other: the query embedding uses both cores, and the keyword search takes ≈ 1 ms (README,
        # "Scale"). The keyword index knows no dates or agencies: under a filter it is asked for more passages, and
        # those outside the filter are left out, so that better matches elsewhere do not crowd out the ones inside.
        vector = view.query_vectors(query)
        found = view.store.keyword_matches(query, n * FILTERED_KEYWORD_FACTOR if filters else n)
        dense, keyword = view.store.hybrid(vector, n, found, where=filters.where() if filters else None)
        if filters:
            keyword = [(c, b) for c, b in keyword if filters.matches(c.article)][:n]
        fused = fuse(dense, keyword, self.settings.dense_weight)
        if intent:
            fused = weigh_by_time(fused, intent)
        hits = rank_with_cap(fused, k, self.settings.max_chunks_per_article, self.settings.group_duplicates)
        wordings = {question, self.topic(question)} - {query}
        if wordings and hits:
            # Whether a period's words are part of what a passage is about varies ("im Juli 2025" in a German
            # report, "in July 2025" in an English question): a hit's similarity is the closest of the wordings.
            stored = view.store.embeddings([h.chunk.chunk_id for h in hits])
            vectors = [view.query_vectors(w) for w in wordings]
            hits = [
                replace(h, similarity=max([h.similarity] + [float(stored[h.chunk.chunk_id] @ v) for v in vectors]))
                if h.chunk.chunk_id in stored else h
                for h in hits
            ]
        return hits

    def time_intent(self, query: str) -> TimeIntent | None:
        """What `query` says about time, when retrieval is time-aware."""
        return parse_time(query.strip(), self.settings.reference_day) if self.settings.time_aware else None

    def topic(self, query: str) -> str:
        """What `query` asks about, without any words naming a period (those are matched on dates)."""
        return without_period(query.strip(), self.time_intent(query), named=True)


@dataclass(frozen=True)
class Candidate:
    """A chunk with its fused score."""

    stored: StoredChunk
    score: float


def fuse(dense: Sequence[StoredChunk], keyword: Sequence[tuple[StoredChunk, float]], dense_weight: float) -> list[Candidate]:
    """Weighted sum of per-query min-max-normalized scores (cosine on the dense side, BM25 on the keyword side);
    a chunk found by one side only gets 0 from the other. Chosen over RRF by measurement (see README)."""
    sims = [c.similarity for c in dense]
    lo, hi = (min(sims), max(sims)) if sims else (0.0, 1.0)
    bm = [b for _, b in keyword]
    klo, khi = (min(bm), max(bm)) if bm else (0.0, 1.0)

    def norm(x: float, low: float, high: float) -> float:
        return min(1.0, max(0.0, (x - low) / (high - low))) if high > low else 1.0

    by_id: dict[str, tuple[StoredChunk, float, float]] = {c.chunk.chunk_id: (c, norm(c.similarity, lo, hi), 0.0) for c in dense}
    for c, b in keyword:
        prev = by_id.get(c.chunk.chunk_id)
        d = prev[1] if prev else norm(c.similarity, lo, hi) if dense else 0.0
        by_id[c.chunk.chunk_id] = (c, d, norm(b, klo, khi))
    ranked = [Candidate(c, dense_weight * d + (1 - dense_weight) * kw) for c, d, kw in by_id.values()]
    return sorted(ranked, key=lambda x: -x.score)


# How much a report's date moves it in the fused ranking (scores are 0–1): a report from the period asked about
# gains, a dated report from outside loses, an undated one stays (it may still be the answer); "aktuell"/"latest"
# lifts the newest. Measured on bench/news_aware (see README).
PERIOD_BONUS = 0.15
RECENCY_BONUS = 0.1


def weigh_by_time(candidates: Sequence[Candidate], intent: TimeIntent) -> list[Candidate]:
    """The candidates re-scored by how their articles' dates fit what the question says about time. For "the
    latest", the dated contenders (within half the best score) gain by their order of publication."""
    best = max((c.score for c in candidates), default=0.0)
    contenders = sorted({span[1] for c in candidates if c.score >= 0.5 * best and (span := date_bounds(c.stored.article.date))})
    out = []
    for c in candidates:
        bonus = 0.0
        fits = intent.overlaps(c.stored.article.date)
        if fits is not None:
            bonus += PERIOD_BONUS if fits else -PERIOD_BONUS
        span = date_bounds(c.stored.article.date)
        if intent.recency and span and span[1] in contenders and len(contenders) > 1:
            bonus += RECENCY_BONUS * contenders.index(span[1]) / (len(contenders) - 1)
        out.append(Candidate(c.stored, c.score + bonus))
    return sorted(out, key=lambda x: -x.score)


def rank_with_cap(candidates: Sequence[Candidate], k: int, cap: int, group_duplicates: bool = True) -> list[Hit]:
    """The best `k` candidates with at most `cap` per article while other articles have candidates left; only
    when they run out does an article get more (a single relevant article still fills the list). With
    `group_duplicates`, a story's near-duplicate copies in other outlets take no slot: the best-ranked copy stands
    for the story and lists the others in `Hit.also`."""
    per_article: dict[str, int] = {}
    owner: dict[str, str] = {}  # story → the article that stands for it
    also: dict[str, dict[str, Article]] = {}
    first, overflow = [], []
    for c in candidates:
        aid = c.stored.article.article_id
        story = (c.stored.story or aid) if group_duplicates else aid
        if owner.setdefault(story, aid) != aid:
            also.setdefault(owner[story], {}).setdefault(aid, c.stored.article)
            continue
        n = per_article[aid] = per_article.get(aid, 0) + 1
        (first if n <= cap else overflow).append(c)
    chosen = (first + overflow)[:k]
    return [
        Hit(chunk=c.stored.chunk, article=c.stored.article, score=c.score, rank=i, similarity=c.stored.similarity,
            also=tuple(also.get(c.stored.article.article_id, {}).values()))
        for i, c in enumerate(chosen, 1)
    ]
