"""German-aware sentence spans, shared by chunking (ingest) and quoting (extractive answers).

SoMaJo is used because it keeps `z. B.`, `Dr.`, `Nr.`, `24. März`, `1.000` and most German abbreviations inside
their sentence; faster splitters (pysbd, blingfire, syntok) break on dates or abbreviations. It does split inside
quotations, so spans are merged again while a quotation is open.
"""
from __future__ import annotations

import re
from functools import lru_cache

import regex

_PARAGRAPH = re.compile(r"\S(?:[^\n]|\n(?![ \t\r]*\n))*")
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")
_QUOTES = re.compile(r"[„“”\"«»]")


# Any character SoMaJo's emoji step looks for (its two classes together).
_EMOJI_CHARACTER = regex.compile(r"[\p{Extended_Pictographic}\p{Emoji_Presentation}\uFE0F]")


@lru_cache(maxsize=1)
def _tokenizer():
    from somajo import SoMaJo

    tokenizer = SoMaJo("de_CMC", split_camel_case=False, character_offsets=True)
    _skip_emoji_search_without_emoji(tokenizer)
    return tokenizer


def _skip_emoji_search_without_emoji(tokenizer) -> None:
    """SoMaJo (2.5) looks for emoji grapheme by grapheme, compiling its pattern anew for each one: a third of its
    time on news text, which rarely holds any, and sentence splitting runs beside the embedding in an ingest. Text
    without any character of its emoji classes cannot contain one, so it skips the search; other text goes through
    SoMaJo's own step unchanged."""
    inner = getattr(tokenizer, "_tokenizer", None)
    split = getattr(inner, "_split_emojis", None)
    if split is None:  # another SoMaJo version: its own step, however fast it is
        return

    def split_emojis(node, token_class: str = "emoticon") -> None:
        if _EMOJI_CHARACTER.search(node.value.text):
            split(node, token_class)

    inner._split_emojis = split_emojis


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph: runs of text separated by blank lines."""
    return [(m.start(), m.end()) for m in _PARAGRAPH.finditer(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences in `text`, never crossing a paragraph break. Each paragraph is
    split on its own: SoMaJo drops invisible characters, so offsets alone cannot tell where a paragraph begins."""
    tokenizer = _tokenizer()
    spans = [
        (start + sentence[0].character_offset[0], start + sentence[-1].character_offset[1])
        for start, end in paragraph_spans(text)
        for sentence in tokenizer.tokenize_text([text[start:end]])
        if sentence  # a paragraph of invisible characters only has none
    ]
    return _merge_open_quotes(text, spans)


def _merge_open_quotes(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    open_quote = False
    for start, end in spans:
        if open_quote and merged and not _BLANK_LINE.search(text[merged[-1][1] : start]):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
        s, e = merged[-1]
        open_quote = len(_QUOTES.findall(text[s:e])) % 2 == 1
    return merged


def sentences(text: str) -> list[str]:
    """The sentences of `text` as strings."""
    return [text[s:e] for s, e in sentence_spans(text)]
