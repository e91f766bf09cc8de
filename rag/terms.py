"""Word-level text analysis shared by lexical scoring: German stemming, stop words, question language."""
from __future__ import annotations

import re
import sys
import types
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

# One number written with thousands separators, the same one throughout: 12.000, 12 000, 12'000 (Swiss), 12 000
# with a (narrow) no-break space. A comma is not among them: in German it is the decimal sign.
GROUPED_NUMBER = r"(?<![\d.,])\d{1,3}([.'’\u00a0\u202f ])\d{3}(?:\1\d{3})*(?![\d.,]\d)"
_WORD = re.compile(r"[^\W_]+(?:[.,]\d+)*", re.UNICODE)  # keeps 6.000 and 1,5 whole; "_" splits
_GERMAN = frozenset(STOPWORDS_GERMAN) | {"viele", "vielen", "wer", "wen", "wem", "wann", "wo", "warum", "wieso", "welche", "welcher", "welches", "welchen"}
# Lucene's 33 English stop words lack the auxiliaries and pronouns of English questions; kept as terms, "have" met
# an English quote in a German article on the keyword side and outranked the article the question was about.
_ENGLISH = frozenset(STOPWORDS_EN) | {
    "what", "which", "who", "whom", "whose", "how", "many", "much", "when", "where", "why",
    "do", "does", "did", "done", "have", "has", "had", "been", "being", "were",
    "could", "would", "should", "shall", "might", "must",  # not "can": Emre Can plays in German news
    "me", "my", "we", "our", "you", "your", "he", "him", "his", "she", "her", "its", "them", "those",
    "from", "about", "than", "any", "some",
}
_STOP = _GERMAN | _ENGLISH


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: the Snowball German stemmer, which also folds umlauts

    return Stemmer.Stemmer("german")


def words(text: str) -> list[str]:
    """The lowercased words of `text`."""
    return [w.lower() for w in _WORD.findall(text)]


def terms(text: str) -> list[str]:
    """Content words of `text`, stemmed: stop words dropped, `ß` folded to `ss`, umlauts folded by the stemmer."""
    kept = [w.replace("ß", "ss") for w in words(text) if w not in _STOP]
    return _stemmer().stemWords(kept)


MIN_COMPOUND_CHARS = 8
MIN_SPLIT_CONFIDENCE = 0.5  # compound-split's score; below it splits are mostly wrong ("Regie|rung")


def index_terms(text: str) -> list[str]:
    """`terms` plus the parts of German compounds, so that "Flüchtlingskinder" meets "Kinder von Flüchtlingen"."""
    out: list[str] = []
    for word in words(text):
        if word in _STOP:
            continue
        out.append(word.replace("ß", "ss"))
        out.extend(_compound_parts(word))
    return _stemmer().stemWords(out)


@lru_cache(maxsize=1)
def _char_split():
    # compound-split's module loads its Dutch tables too (1.2 s of the 4.5 s it costs each process); we split German
    # only, so an empty stand-in takes their place
    sys.modules.setdefault("compound_split.nl_ngram_probs", types.ModuleType("compound_split.nl_ngram_probs"))
    from compound_split import char_split

    return char_split


@lru_cache(maxsize=65536)
def _compound_parts(word: str) -> tuple[str, ...]:
    if len(word) < MIN_COMPOUND_CHARS or not word.isalpha():
        return ()
    splits = _char_split().split_compound(word)
    if not splits or splits[0][0] < MIN_SPLIT_CONFIDENCE:
        return ()
    _, head, tail = splits[0]
    return tuple(p.lower().replace("ß", "ss") for p in (head, tail) if len(p) >= 3)


def question_language(text: str) -> str:
    """"de" or "en": whichever language's own function words the text uses more; words of both ("in", "an",
    "will") count for neither, and German wins ties, as the corpus is German. A library detector is overkill for
    telling two languages apart in a question."""
    ws = words(text)
    de = sum(w in _GERMAN and w not in _ENGLISH for w in ws) + sum(ch in "äöüß" for ch in text.lower())
    en = sum(w in _ENGLISH and w not in _GERMAN for w in ws)
    return "en" if en > de else "de"
