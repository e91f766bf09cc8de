"""Split an article into passages that fit the embedding model's window, on German sentence boundaries.

Sentences are packed greedily up to a token budget counted with the model's own tokenizer (German takes about two
tokens per word, and a model silently truncates what exceeds its window). The budget bounds what the model is fed for
a chunk — prefix and special tokens, title and sentences. Tokenizers split on whitespace before anything else, so the
counts of sentences separated by whitespace add up to their passage's count once the prefix and special tokens are
counted once; packing goes by these sums, and each chunk is checked with one count of its whole passage (counting is
superlinear in length, and chunking runs beside the embedding). Where sentences touch without whitespace (a sentence
split inside "f1.8"), whole passages are counted. Consecutive chunks share about `overlap_tokens` of whole sentences so
that a fact split across a boundary is still found. Each chunk keeps its character offsets, so
`article.text[start:end] == chunk.text`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from itertools import accumulate

from rag.schema import Article, Chunk
from rag.sentences import sentence_spans

_WORD = re.compile(r"\S+")

Unit = tuple[int, int, int]  # (start, end, own tokens) of a sentence, or of a word window of an over-long one


def passage_text(article: Article, chunk_text: str, start: int) -> str:
    """What gets embedded for the chunk at offset `start`: the article title gives every passage its context, except
    the first when the text opens with the title already (headerless text, whose title is its first line or
    sentence, perhaps cut short with " …")."""
    title = article.title
    head = title.removesuffix(" …")
    if start == 0 and title and chunk_text.startswith(head) and not chunk_text[len(head) : len(head) + 1].isalnum():
        return chunk_text
    return f"{title}\n{chunk_text}" if title else chunk_text


def chunk_article(
    article: Article, count_tokens: Callable[[str], int], max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """The article's chunks, each fed to the model (title included) in at most `max_tokens` tokens."""
    text = article.text
    joined = joined_specials(count_tokens)
    title = count_tokens(article.title) - joined if article.title else 0

    def fed(start: int, end: int) -> int:
        return count_tokens(passage_text(article, text[start:end], start))

    budget = max(16, max_tokens - fed(0, 0))  # for one sentence's own tokens, next to the title
    units: list[Unit] = []
    for start, end in sentence_spans(text):
        n = count_tokens(text[start:end]) - joined
        units.extend([(start, end, n)] if n <= budget else _word_windows(text, start, end, count_tokens, joined, budget))
    own = list(accumulate((u[2] for u in units), initial=0))
    # touching[i]: joins before unit i that are not whitespace (their counts may not add up), accumulated
    touching = list(accumulate((not text[a[1] : b[0]].isspace() for a, b in zip(units, units[1:])), initial=0))

    def summed(first: int, last: int) -> int:
        """The passage's count from its parts: exact where `exact(first, last)`."""
        start, end = units[first][0], units[last][1]
        titled = passage_text(article, text[start:end], start) != text[start:end]
        return joined + title * titled + own[last + 1] - own[first]

    def exact(first: int, last: int) -> bool:
        return touching[last] == touching[first]

    def fits(first: int, last: int) -> bool:
        return fed(units[first][0], units[last][1]) <= max_tokens

    def room(first: int, last: int) -> bool:
        return summed(first, last) <= max_tokens if exact(first, last) else fits(first, last)

    def furthest(first: int) -> int:
        """The last unit of the chunk that starts at unit `first`: as many as fit, by their summed counts, checked
        with one count of the whole passage (more only where units touch or the check fails)."""
        last = first
        while last + 1 < len(units) and summed(first, last + 1) <= max_tokens:
            last += 1
        if fits(first, last):
            while last + 1 < len(units) and not exact(first, last + 1) and fits(first, last + 1):
                last += 1
        else:
            while last > first:
                last -= 1
                if fits(first, last):
                    break
        return last

    spans: list[tuple[int, int]] = []
    first, done = 0, -1  # done: the last unit of the chunk before
    while first < len(units):
        last = furthest(first)
        if last <= done:  # the repeated sentences left no room after all: this chunk repeats none
            first = done + 1
            last = furthest(first)
        spans.append((units[first][0], units[last][1]))
        if last + 1 == len(units):
            break
        done = last
        first = last + 1 - len(_overlap(units[first : last + 1], overlap_tokens))
        while first <= last and not room(first, last + 1):
            first += 1  # the repeated sentences make room for at least one new one

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


def joined_specials(count_tokens: Callable[[str], int]) -> int:
    """The tokens a passage pays once, whatever text it holds: the model's prefix and special tokens. Not the count
    of an empty passage: E5's tokenizer counts the space that ends "passage: " as a token until text follows it."""
    return 2 * count_tokens("Wort") - count_tokens("Wort Wort")


def _overlap(units: list[Unit], overlap_tokens: int) -> list[Unit]:
    """The trailing sentences of the previous chunk to repeat; never all of it, so packing always advances."""
    kept: list[Unit] = []
    total = 0
    for unit in reversed(units[1:]):
        if total + unit[2] > overlap_tokens:
            break
        kept.insert(0, unit)
        total += unit[2]
    return kept


def _word_windows(
    text: str, start: int, end: int, count_tokens: Callable[[str], int], joined: int, budget: int
) -> list[Unit]:
    """Cut an over-long sentence (a list, a table run together) into word windows whose own tokens fit the budget.

    Windows are first sized by adding up per-word counts, then checked with a real count and halved until they fit.
    """
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    windows: list[list[tuple[int, int]]] = [[]]
    total = 0
    for w in words:
        n = max(1, count_tokens(text[w[0] : w[1]]) - joined)
        if windows[-1] and total + n > budget:
            windows.append([])
            total = 0
        windows[-1].append(w)
        total += n
    fitted: list[Unit] = []
    pending = [ws for ws in reversed(windows) if ws]
    while pending:
        ws = pending.pop()
        n = count_tokens(text[ws[0][0] : ws[-1][1]]) - joined
        if n <= budget or len(ws) == 1:
            fitted.append((ws[0][0], ws[-1][1], n))
        else:
            half = len(ws) // 2
            pending += [ws[half:], ws[:half]]
    return fitted
