"""The offline answer: the sentences of the retrieved passages that best answer the question, quoted verbatim."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.embeddings import Embedder
from rag.schema import Hit
from rag.sentences import sentence_spans
from rag.terms import terms

MAX_SENTENCES = 3
KEEP_RATIO = 0.75  # a sentence must score at least this share of the best one to be quoted too


@dataclass(frozen=True)
class Quote:
    """A sentence of a hit's passage; `start`/`end` are offsets in the article."""

    hit: Hit
    text: str
    start: int
    end: int
    score: float


def scored_sentences(question: str, question_vector: np.ndarray, hits: list[Hit], embedder: Embedder) -> list[Quote]:
    """Every sentence of `hits`' passages, best answer to `question` first, scored by meaning (embedding cosine to
    `question_vector`, the question's query embedding) and by how many of the question's content words they contain
    (names and numbers matter in news)."""
    candidates: list[tuple[Hit, int, int]] = []
    seen: set[tuple[str, int]] = set()
    for hit in hits:
        for s, e in sentence_spans(hit.chunk.text):
            key = (hit.article.article_id, hit.chunk.start + s)
            if key not in seen:  # overlapping chunks repeat sentences
                seen.add(key)
                candidates.append((hit, s, e))
    if not candidates:
        return []
    texts = [h.chunk.text[s:e] for h, s, e in candidates]
    cosine = embedder.embed_passages(texts) @ question_vector
    q_terms = set(terms(question))
    overlap = np.array([len(q_terms & set(terms(t))) / len(q_terms) if q_terms else 0.0 for t in texts])
    scores = 0.5 * cosine + 0.5 * overlap
    return [
        Quote(candidates[i][0], texts[i], candidates[i][0].chunk.start + candidates[i][1],
              candidates[i][0].chunk.start + candidates[i][2], float(scores[i]))
        for i in np.argsort(-scores, kind="stable")
    ]


def best_quotes(scored: list[Quote]) -> list[Quote]:
    """Up to `MAX_SENTENCES` of the `scored_sentences`, as long as they score near the best one."""
    return [q for q in scored[:MAX_SENTENCES] if q.score >= KEEP_RATIO * scored[0].score]
