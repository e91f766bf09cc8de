"""What a question says about time: an explicit or relative period ("im Juli 2025", "letzte Woche", "last month")
or a wish for the newest reports ("aktuell", "latest", "seit Kriegsbeginn"), parsed with dateparser relative to a
configurable "today"; and how publication dates are said in an answer."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from rag.store import date_bounds

# Words asking for the current state rather than a period. "seit …" asks for a running total up to now: the newest
# report has it.
_RECENCY = re.compile(
    r"\b(aktuell\w*|derzeit\w*|momentan\w*|zurzeit|neueste\w*|jüngste\w*|zuletzt|inzwischen|mittlerweile|"
    r"bisher|bislang|seit|jetzt|latest|current|currently|recent|recently|now|so far|since|newest|to date)\b",
    re.IGNORECASE,
)
_WEEKDAYS = (r"montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
             r"monday|tuesday|wednesday|thursday|friday|saturday|sunday")
# dateparser reads many things as dates ("die" = Dienstag, "1&1", "zwei Wochen später", "ein Jahr vor der Reform");
# a phrase counts only as a year, a month, a day of a month, or a period counted back from today.
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_RELATIVE = re.compile(
    rf"\b(gestern|vorgestern|heute|letzte\w*|vergangene\w*|diese[rnms]?\s+(woche|monat|jahr)|"
    rf"vor\s+(\w+\s+)?(tag|tagen|woche|wochen|monat|monaten|jahr|jahren)|yesterday|today|last|ago|"
    rf"this\s+(week|month|year)|(am\s+|on\s+)?({_WEEKDAYS}))\b",
    re.IGNORECASE,
)
_MONTH_NAMES = (r"januar|jänner|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember|"
                r"january|february|march|may|june|july|october|december")
_MONTH_NAME = re.compile(rf"\b({_MONTH_NAMES})\b", re.IGNORECASE)
_DAY = re.compile(
    rf"\d{{1,2}}\.?\s*({_MONTH_NAMES})|\d{{1,2}}\.\d{{1,2}}\.|\d{{4}}-\d\d-\d\d|gestern|heute|\btag(e|en)?\b|"
    rf"yesterday|today|\bdays?\b|{_WEEKDAYS}"
)
# "May", "March" and "August" are also a verb, a verb and a name: they name a month only next to a day or year, or
# after a word that introduces a period ("im August", "in May", "since March")
_AMBIGUOUS_MONTH = re.compile(r"\b(may|march|august)\b", re.IGNORECASE)
_PERIOD_CUE = re.compile(
    r"\b(in|im|seit|since|until|till|bis|of|vom|von|from|during|anfang|ende|mitte|early|late|last|next|this|letzten|"
    r"vergangenen|nächsten|diesen)\s*$", re.IGNORECASE,
)
_SINCE = re.compile(r"\b(seit|since)(\s+(dem|der|den|anfang|ende|mitte|the|early|late))*\s*$", re.IGNORECASE)

MONTHS = {
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November",
           "Dezember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}


@dataclass(frozen=True)
class TimeIntent:
    """The period a question asks about (`start`/`end` inclusive, either may be None) and whether it wants the
    newest reports; `phrase` is the words it was read from."""

    start: date | None = None
    end: date | None = None
    recency: bool = False
    phrase: str = ""

    @property
    def has_period(self) -> bool:
        return self.start is not None or self.end is not None

    def overlaps(self, article_date: str) -> bool | None:
        """Whether an article published at `article_date` (ISO, as precise as known) falls in the period; None for
        an undated article or no period."""
        span = date_bounds(article_date)
        if span is None or not self.has_period:
            return None
        lo = int(self.start.strftime("%Y%m%d")) if self.start else 0
        hi = int(self.end.strftime("%Y%m%d")) if self.end else 99991231
        return span[1] >= lo and span[0] <= hi


@lru_cache(maxsize=256)  # retrieval and the answer both ask
def parse_time(question: str, today: date) -> TimeIntent | None:
    """The time a question refers to, or None when it names none."""
    recency = _RECENCY.search(question)
    found = _dates_in(question, today)
    if found is None:
        return TimeIntent(recency=True, phrase=recency.group(0)) if recency else None
    phrase, start, end = found
    return TimeIntent(start, end, recency=bool(recency), phrase=phrase)


def _dates_in(question: str, today: date) -> tuple[str, date, date] | None:
    if not (_YEAR.search(question) or _MONTH_NAME.search(question) or _RELATIVE.search(question)):
        return None  # no phrase of it could pass `_plausible`: spare the search (≈ 8 ms, most questions)
    import dateparser
    from dateparser.search import search_dates

    for text, when in search_dates(question, languages=["de", "en"], settings=_settings(today)) or []:
        phrase = re.sub(r"\s+(in|im|am|an|on|at|of|bei|zu|und|and|oder|or)$", "", text.strip(" ?!.,;:"),
                        flags=re.IGNORECASE)
        # read again without the trailing word: "vor zwei Wochen in" would be "in two weeks"
        when = dateparser.parse(phrase, languages=["de", "en"], settings=_settings(today)) or when
        if not _plausible(phrase, when.date(), today) or not _meant_as_date(question, phrase):
            continue
        start, end = _period(when.date(), _granularity(phrase))
        if start > today:
            continue
        if _SINCE.search(question[: question.find(text)]):  # "seit dem 2. Juni": from then up to today
            end = today
        return phrase, start, min(end, today) if _is_relative(phrase) else end
    return None


def _granularity(phrase: str) -> str:
    """How long a period the words name: dateparser parses "im Juli 2025" to one day of July."""
    p = phrase.lower()
    if _DAY.search(p):
        return "day"
    if re.search(r"woche|week", p):
        return "week"
    if _MONTH_NAME.search(p) or re.search(r"monat|month", p):
        return "month"
    return "year"


def without_period(question: str, intent: TimeIntent | None, named: bool = False) -> str:
    """The question without words that count a period back from today ("letzte Woche", "gestern"): they are
    matched on the articles' dates and say nothing about the topic. Named dates ("im Juli 2025", "2013") stay, as a
    report may name them too, unless `named`."""
    if intent is None or not intent.has_period or not (named or _is_relative(intent.phrase)):
        return question
    rest = re.sub(r"\s+(?=[?!.,;:]|$)|(?<=\s)\s+", "", question.replace(intent.phrase, " ")).strip()
    return rest if re.search(r"\w", rest) else question  # "Letzte Woche?" alone leaves nothing to search for


def _plausible(phrase: str, when: date, today: date) -> bool:
    years = _YEAR.findall(phrase)
    if years:
        return str(when.year) in years
    if _MONTH_NAME.search(phrase):  # "im Juli": the last July ("1 January and 30" is no 1930)
        return today.year - 1 <= when.year <= today.year
    return bool(_RELATIVE.search(phrase))


def _meant_as_date(question: str, phrase: str) -> bool:
    """Whether words that parse as a date are used as one in the question: not "What may …" or "August Diehl"
    (see `_AMBIGUOUS_MONTH`), and not a count in the range of years ("2000 Soldaten", "2000 soldiers": a year is
    not followed by what it counts, unless a word such as "im" or "since" introduces it)."""
    at = max(question.find(phrase), 0)  # the phrase is `text` without a trailing "in", "am" …
    before = question[:at]
    month = _AMBIGUOUS_MONTH.search(phrase)
    if month and not re.search(r"\d", phrase) and not _PERIOD_CUE.search(before + phrase[: month.start()]):
        return False
    if _YEAR.fullmatch(phrase) and not _PERIOD_CUE.search(before):
        counted = re.match(r"\s+(\w+)", question[at + len(phrase):])
        word = counted[1] if counted else ""
        if word and not _MONTH_NAME.fullmatch(word) and (word[0].isupper() or word.endswith("s")):
            return False
    return True


def _is_relative(phrase: str) -> bool:
    """A period counted from today ("letzte Woche", "vor 3 Tagen"), as opposed to one a report may name too ("im
    Juli 2025")."""
    return bool(_RELATIVE.search(phrase)) and not _YEAR.search(phrase) and not _MONTH_NAME.search(phrase)


def _period(day: date, period: str) -> tuple[date, date]:
    if period == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    if period == "month":
        return date(day.year, day.month, 1), date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    return day, day


def _settings(today: date) -> dict:
    from datetime import datetime

    return {"RELATIVE_BASE": datetime(today.year, today.month, today.day), "PREFER_DATES_FROM": "past",
            "RETURN_AS_TIMEZONE_AWARE": False, "DATE_ORDER": "DMY"}  # 03.06.2025 is the 3rd of June


def date_words(article_date: str, lang: str) -> str:
    """A publication date in words: "13. Juli 2025", "Juli 2025", "2025" / "13 July 2025"; "" when undated."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", article_date or "")
    if not m:
        return ""
    year, month, day = m[1], int(m[2] or 0), int(m[3] or 0)
    name = MONTHS["de" if lang == "de" else "en"][month - 1] if month else ""
    if not month:
        return year
    if not day:
        return f"{name} {year}"
    return f"{day}. {name} {year}" if lang == "de" else f"{day} {name} {year}"


def published_phrase(article_date: str, lang: str) -> str:
    """How an answer says when a report was published: "vom 13. Juli 2025", "vom Juli 2025", "aus dem Jahr 2025" /
    "of 13 July 2025", "of July 2025", "from 2025"; "" for an undated report."""
    words = date_words(article_date, lang)
    if not words:
        return ""
    if len(words) == 4:  # a year alone
        return f"aus dem Jahr {words}" if lang == "de" else f"from {words}"
    return f"vom {words}" if lang == "de" else f"of {words}"


def describe_period(intent: TimeIntent, lang: str) -> str:
    """The asked period in words, for a notice ("Juli 2025", "2025-06-02 – 2025-06-08")."""
    s, e = intent.start, intent.end
    if s and e and s.day == 1 and e == date(s.year, s.month, calendar.monthrange(s.year, s.month)[1]):
        return f"{MONTHS['de' if lang == 'de' else 'en'][s.month - 1]} {s.year}"
    if s and e and (s, e) == (date(s.year, 1, 1), date(s.year, 12, 31)):
        return str(s.year)
    return " – ".join(d.isoformat() if d else "…" for d in (s, e)) if s != e else s.isoformat()
