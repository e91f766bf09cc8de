"""Sources that disagree: different figures for the same thing in the passages that answer a question.

An answer must not silently pick one of "vier Tote" and "elf Todesopfer". Each article's best answering sentence is
read for figures; two articles disagree when their figures for the same thing differ. "The same thing" is the noun
the figure counts (German nouns are capitalized: "120 Menschen", "die Zahl der Toten stieg auf sieben"); for a
question that asks for a quantity ("wie viele", "how many"), each article's answering figure is compared directly,
since reports name the counted thing in different words (Tote, Todesopfer, Menschen ums Leben).
Only figures are compared: telling apart two different non-numeric claims would need an NLI model, which no
package here ships.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.schema import Hit
from rag.store import date_bounds
from rag.terms import GROUPED_NUMBER, terms

_NUMBER_WORDS = {
    "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11,
    "zwölf": 12, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15, "sechzehn": 16, "siebzehn": 17, "achtzehn": 18,
    "neunzehn": 19, "zwanzig": 20, "dreißig": 30, "vierzig": 40, "fünfzig": 50, "sechzig": 60, "siebzig": 70,
    "achtzig": 80, "neunzig": 90, "hundert": 100, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100,
}
_TOKEN = re.compile(rf"{GROUPED_NUMBER}|\d+(?:[.,]\d+)*|%|\w+", re.UNICODE)
_MONTH = re.compile(r"(jän|jan|feb|mär|apr|mai|jun|jul|aug|sep|okt|nov|dez)\w*", re.IGNORECASE)
_NOT_A_COUNT = {"uhr", "jahr", "jahre", "jahren", "jahres", "prozentpunkt"}  # times of day, dates, ages
_QUANTITY_QUESTION = re.compile(
    r"\b(wie ?viele?|wieviele?|wie hoch|wie groß|wie stark|zahl|anzahl|how many|how much|how high|number|figure|"
    r"count|toll)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Figure:
    """A number in a sentence and the thing it counts (`unit`, stemmed; "" if none could be read)."""

    value: float
    text: str
    unit: str
    label: str = ""  # the unit as written ("Menschen")


@dataclass(frozen=True)
class Side:
    """One article's figure, from the sentence of its passage that best answers the question."""

    hit: Hit
    figure: Figure
    sentence: str


@dataclass(frozen=True)
class Disagreement:
    """Articles that give different figures for one thing; `sides` newest report first (undated last)."""

    unit: str
    sides: tuple[Side, ...]


def figures(sentence: str) -> list[Figure]:
    """The counts in a sentence: digits or number words, not dates, years or times of day."""
    tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(sentence)]
    out = []
    for i, (tok, pos) in enumerate(tokens):
        value = _value(tok)
        if value is None:
            continue
        after = [t for t, _ in tokens[i + 1 : i + 3]]
        if sentence[pos + len(tok) : pos + len(tok) + 1] == "." and after and _MONTH.fullmatch(after[0]):
            continue  # "3. Juni"
        if re.fullmatch(r"\d{1,2}\.\d{1,2}\.(\d{2,4})?", tok) or sentence[pos + len(tok) : pos + len(tok) + 1] == "-":
            continue  # "14.07.", "45-jährige", "3-fach"
        unit = _unit(tokens, i)
        if re.fullmatch(r"(19|20)\d\d", tok) and not unit:
            continue  # a year, unless it counts something: "rund 2000 Einsatzkräfte"
        if unit.lower() in _NOT_A_COUNT:
            continue
        out.append(Figure(value, tok, (terms(unit) or [unit.lower()])[0] if unit else "", unit))
    return out


def _value(token: str) -> float | None:
    if token.lower() in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[token.lower()])
    if not token[0].isdigit():
        return None
    if re.fullmatch(GROUPED_NUMBER, token):  # 12.000, 12 000, 12'000
        return float(re.sub(r"\D", "", token))
    try:
        return float(token.replace(",", "."))
    except ValueError:
        return None


def _unit(tokens: list[tuple[str, int]], i: int) -> str:
    """The counted thing: "%"/Prozent, else the next capitalized word (a German noun) close after the number, else
    what "die Zahl der …" before it names ("die Zahl der Toten stieg auf sieben")."""
    for tok, _ in tokens[i + 1 : i + 3]:
        if tok == "%" or tok.lower() in ("prozent", "percent"):
            return "Prozent"
        if tok[:1].isupper() and _value(tok) is None:
            return tok
    before = [t for t, _ in tokens[max(0, i - 12) : i]]
    for j, tok in enumerate(before[:-2]):
        if tok.lower() in ("zahl", "anzahl") and before[j + 1].lower() in ("der", "an", "von") and before[j + 2][:1].isupper():
            return before[j + 2]
    return ""


def find_disagreement(question: str, scored: Sequence[tuple[Hit, str, float]], ratio: float) -> Disagreement | None:
    """Whether the articles give different figures for one thing. `scored`: the passages' sentences with how well
    they answer `question`, best first; each article's best sentence with a figure speaks for it if it scores at
    least `ratio` of the best sentence. None when they agree or give no figures."""
    top = scored[0][2] if scored else 0.0
    answering: dict[str, tuple[Hit, str, list[Figure]]] = {}
    for hit, sentence, score in scored:
        if score >= ratio * top and hit.article.article_id not in answering and (found := figures(sentence)):
            answering[hit.article.article_id] = (hit, sentence, found)
    if len(answering) < 2:
        return None
    by_unit: dict[str, list[Side]] = {}  # unit → one side per article
    first: list[Side] = []
    for hit, sentence, found in answering.values():
        first.append(Side(hit, found[0], sentence))
        for f in found:
            if f.unit and all(s.hit is not hit for s in by_unit.get(f.unit, [])):
                by_unit.setdefault(f.unit, []).append(Side(hit, f, sentence))
    asked = _asked_unit(question)
    if asked in by_unit:  # "wie viele Feuerwehrleute": only figures of Feuerwehrleute count
        candidates = [by_unit[asked]]
    elif asked:  # what was asked for is named differently (Tote, Todesopfer): the answering figures decide
        candidates = [first]
    elif shared := [g for g in by_unit.values() if len(g) > 1]:  # a thing named alike in several articles decides
        candidates = shared
    elif _QUANTITY_QUESTION.search(question):  # reports name the counted thing differently: compare the answers
        candidates = [first]
    else:
        candidates = []
    for group in candidates:
        if len(group) > 1 and len({s.figure.value for s in group}) > 1:
            return Disagreement(group[0].figure.unit, tuple(sorted(group, key=_newest_first)))
    return None


def _asked_unit(question: str) -> str:
    """The stem of the thing a question counts: "Wie viele Feuerwehrleute …" → "feuerwehrleut"."""
    m = re.search(r"\b(?:wie ?viele|wieviele|how many)\s+(\w+)", question, re.IGNORECASE)
    return (terms(m.group(1)) or [""])[0] if m else ""


def _newest_first(side: Side) -> tuple[int, int]:
    span = date_bounds(side.hit.article.date)
    return (0, -span[1]) if span else (1, 0)
