"""Retrieval: a question in, ranked passages with their articles out."""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from rag.config import Settings, get_settings
from rag.embeddings import Embedder, get_embedder
from rag.schema import Hit
from rag.store import Store, StoredChunk, index_key


def open_store(settings: Settings, create: bool = False) -> Store:
    """The store for the configured index directory, embedding model and chunking settings."""
    key = index_key(settings.embed_model, settings.chunk_tokens, settings.chunk_overlap_tokens)
    return Store(settings.index_dir, key, create=create)


class Retriever:
    """Finds the passages that best match a question. Loads the model and opens the index lazily, once.

    >>> hits = Retriever().search("Wie viele Soldaten schickt Nordkorea?", k=3)
    """

    def __init__(self, settings: Settings | None = None, *, index_dir: Path | str | None = None):
        settings = settings or get_settings()
        self.settings = settings.model_copy(update={"index_dir": Path(index_dir)}) if index_dir else settings

    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings.embed_model)

    @cached_property
    def store(self) -> Store:
        return open_store(self.settings)

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; cached because answering needs it twice (search and relevance gate)."""
        return self._query_vectors(query.strip())

    @cached_property
    def _query_vectors(self):
        return lru_cache(maxsize=256)(self.embedder.embed_query)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The top `k` passages for `query`, best first; one long article does not crowd out others
        (see `rank_with_cap`)."""
        k = k or self.settings.top_k
        query = query.strip()
        if not query:
            return []
        cap = self.settings.max_chunks_per_article
        candidates = self.store.query(self.query_vector(query), n=max(20, k * (cap + 2)))
        return rank_with_cap(candidates, k, cap)


def rank_with_cap(candidates: Sequence[StoredChunk], k: int, cap: int) -> list[Hit]:
    """The best `k` candidates with at most `cap` per article while other articles have candidates left; only
    when they run out does an article get more (a single relevant article still fills the list)."""
    per_article: dict[str, int] = {}
    first, overflow = [], []
    for c in candidates:
        n = per_article[c.article.article_id] = per_article.get(c.article.article_id, 0) + 1
        (first if n <= cap else overflow).append(c)
    chosen = (first + overflow)[:k]
    return [Hit(chunk=c.chunk, article=c.article, score=c.score, rank=i) for i, c in enumerate(chosen, 1)]
