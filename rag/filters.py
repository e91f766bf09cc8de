"""Search filters (date range, source agency) that narrow retrieval itself, on both the dense and keyword sides."""
from __future__ import annotations

from dataclasses import dataclass

from rag.schema import Article
from rag.store import date_bounds


@dataclass(frozen=True)
class SearchFilter:
    """Only articles published within [date_from, date_to] (ISO, as precise as wanted: "2025", "2025-07",
    "2025-07-13"; either end open) and, when `agencies` is given, by one of those sources (a byline names one or
    several: "APA/dpa/AFP" is by APA, by dpa and by AFP). An article's date is a
    span ("2025-07" is all of July); it matches when the spans overlap. Undated articles match no date filter."""

    date_from: str = ""
    date_to: str = ""
    agencies: tuple[str, ...] = ()

    def __post_init__(self):
        for value in (self.date_from, self.date_to):
            if value and date_bounds(value) is None:
                raise ValueError(f"not a date: {value!r} (use YYYY, YYYY-MM or YYYY-MM-DD)")

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to or self.agencies)

    def where(self) -> dict | None:
        """The Chroma `where` clause of this filter."""
        clauses: list[dict] = []
        if self.date_from:
            clauses.append({"date_max": {"$gte": date_bounds(self.date_from)[0]}})
        if self.date_to:
            clauses.append({"date_min": {"$lte": date_bounds(self.date_to)[1]}})
        if self.agencies:
            # a name the byline lists, or the whole byline: an index of format 1 has no lists, and a client may
            # still send "APA/dpa/AFP" as the page once offered it
            named = [c for name in self.agencies for c in ({"agencies": {"$contains": name}}, {"agency": name})]
            clauses.append({"$or": named})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, article: Article) -> bool:
        """The same test in Python, for results of the keyword side."""
        if self.agencies and not set(self.agencies) & {article.agency, *article.agencies}:
            return False
        if self.date_from or self.date_to:
            span = date_bounds(article.date)
            if span is None:
                return False
            if self.date_from and span[1] < date_bounds(self.date_from)[0]:
                return False
            if self.date_to and span[0] > date_bounds(self.date_to)[1]:
                return False
        return True
