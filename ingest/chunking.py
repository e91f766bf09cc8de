"""Split an article into passages that fit the embedding model's window, on German sentence boundaries.

Sentences are packed greedily up to a token budget counted with the model's own tokenizer (German takes about two
tokens per word, and a model silently truncates what exceeds its window). Consecutive chunks share about
`overlap_tokens` of whole sentences so that a fact split across a boundary is still found. Each chunk keeps its
character offsets, so `article.text[start:end] == chunk.text`.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from rag.schema import Article, Chunk
from rag.sentences import sentence_spans

_WORD = re.compile(r"\S+")


def passage_text(article: Article, chunk_text: str) -> str:
    """What gets embedded for a chunk: the article title gives every passage its context."""
    return f"{article.title}\n{chunk_text}" if article.title else chunk_text


def chunk_article(
    article: Article, count_tokens: Callable[[str], int], max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """The article's chunks; the title's tokens are reserved from `max_tokens` since they are embedded too."""
    budget = max(16, max_tokens - (count_tokens(article.title) if article.title else 0))
    text = article.text
    units: list[tuple[int, int, int]] = []  # (start, end, tokens) of sentences, long ones cut into word windows
    for start, end in sentence_spans(text):
        n = count_tokens(text[start:end])
        units.extend([(start, end, n)] if n <= budget else _word_windows(text, start, end, count_tokens, budget))

    spans: list[tuple[int, int]] = []
    current: list[tuple[int, int, int]] = []
    for unit in units:
        if current and sum(u[2] for u in current) + unit[2] > budget:
            spans.append((current[0][0], current[-1][1]))
            current = _overlap(current, overlap_tokens, budget - unit[2])
        current.append(unit)
    if current:
        spans.append((current[0][0], current[-1][1]))

    return [
        Chunk(
            chunk_id=f"{article.article_id}#{article.content_hash[:12]}#{i}",
            article_id=article.article_id,
            index=i,
            text=text[s:e],
            start=s,
            end=e,
        )
        for i, (s, e) in enumerate(spans)
    ]


def _overlap(units: list[tuple[int, int, int]], overlap_tokens: int, room: int) -> list[tuple[int, int, int]]:
    """The trailing sentences of the previous chunk to repeat; never all of it, so packing always advances."""
    kept: list[tuple[int, int, int]] = []
    total = 0
    for unit in reversed(units[1:]):
        if total + unit[2] > min(overlap_tokens, room):
            break
        kept.insert(0, unit)
        total += unit[2]
    return kept


def _word_windows(
    text: str, start: int, end: int, count_tokens: Callable[[str], int], budget: int
) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence (a list, a table run together) into word windows that fit the budget.

    Windows are first sized by adding up per-word counts (linear, but words tokenize differently alone than in
    context), then checked with a real count and halved until they fit.
    """
    specials = count_tokens("")
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    windows: list[list[tuple[int, int]]] = [[]]
    total = 0
    for w in words:
        n = max(1, count_tokens(text[w[0] : w[1]]) - specials)
        if windows[-1] and total + n > budget - specials:
            windows.append([])
            total = 0
        windows[-1].append(w)
        total += n
    fitted: list[tuple[int, int, int]] = []
    pending = [ws for ws in reversed(windows) if ws]
    while pending:
        ws = pending.pop()
        n = count_tokens(text[ws[0][0] : ws[-1][1]])
        if n <= budget or len(ws) == 1:
            fitted.append((ws[0][0], ws[-1][1], n))
        else:
            half = len(ws) // 2
            pending += [ws[half:], ws[:half]]
    return fitted
