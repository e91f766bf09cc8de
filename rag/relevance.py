"""Does the best passage really answer the question, or is it merely the least unrelated one?

Raw cosine similarity is a poor gate: E5-style models give every German question a high baseline (0.7–0.8) against
any German text. So relevance is measured against a null model: the best passage's similarity minus the question's
mean similarity to a fixed set of generic news sentences on unrelated topics. Answerable questions stand out from
that baseline; unanswerable ones do not, whatever the size of the corpus. Thresholds are calibrated per model.
"""
from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from rag.embeddings import Embedder
from rag.schema import Hit
from rag.terms import GROUPED_NUMBER, terms

CORPUS_LANGUAGE = "de"  # word overlap is evidence only when question and articles share a language
LEXICAL_BAND = 0.03
MIN_SHARED_TERMS = 1 / 3
_NUMBER = re.compile(rf"{GROUPED_NUMBER}|\d{{1,3}}(?:,\d{{3}})+(?!\d)|\d+")  # 1.000 / 1,000 / 1 000 whole; 9.11.1989 in parts

# Generic news sentences across beats, written for this purpose (no corpus text): the "background" a question is
# compared with.
REFERENCE_PASSAGES = (
    "Der Gemeinderat hat am Dienstag den Haushalt für das kommende Jahr mit knapper Mehrheit beschlossen.",
    "Die Polizei ermittelt nach einem Einbruch in ein Juweliergeschäft in der Innenstadt.",
    "Der Verein gewann das Heimspiel am Samstag mit zwei zu eins und bleibt Tabellenführer.",
    "Die Inflationsrate ist im vergangenen Monat leicht gesunken, teilte das Statistikamt mit.",
    "Am Wochenende wird es sonnig und warm, in den Bergen sind Gewitter möglich.",
    "Das Unternehmen kündigte an, im nächsten Jahr mehrere hundert Stellen abzubauen.",
    "Die Ausstellung im Museum zeigt Gemälde aus dem 19. Jahrhundert und ist bis Herbst geöffnet.",
    "Forscher haben eine neue Methode entwickelt, um Krankheiten früher zu erkennen.",
    "Die Regierung legte einen Gesetzesentwurf zur Reform des Pensionssystems vor.",
    "Auf der Autobahn kam es nach einem Unfall zu einem kilometerlangen Stau.",
    "Die Opposition kritisierte den Minister scharf und forderte seinen Rücktritt.",
    "Der neue Film des Regisseurs feierte beim Festival seine Premiere.",
    "Die Preise für Wohnungen in der Hauptstadt sind erneut gestiegen.",
    "Das Gericht verurteilte den Angeklagten zu einer bedingten Haftstrafe.",
    "Die Schule bekommt einen Neubau, die Bauarbeiten beginnen im Frühjahr.",
    "Der Konzern meldete für das dritte Quartal einen deutlich höheren Gewinn.",
    "Bei den Wahlen konnte die Partei ihren Stimmenanteil deutlich ausbauen.",
    "Die Feuerwehr rückte in der Nacht zu einem Brand in einer Lagerhalle aus.",
    "Das Smartphone-Update bringt neue Funktionen und schließt Sicherheitslücken.",
    "Die Verhandlungen über ein Handelsabkommen wurden ohne Ergebnis vertagt.",
    "Der Trainer verlängerte seinen Vertrag um weitere zwei Jahre.",
    "Die Zahl der Touristen hat im Sommer einen neuen Rekord erreicht.",
    "Die Gewerkschaft droht mit Streiks, falls die Löhne nicht steigen.",
    "Ein Erdbeben der Stärke fünf erschütterte die Region, Verletzte gab es keine.",
    "Die Universität startet im Herbst einen neuen Studiengang für Datenwissenschaft.",
    "Der Bürgermeister eröffnete den neuen Radweg entlang des Flusses.",
    "Die Zentralbank ließ den Leitzins unverändert.",
    "Das Konzert der Band war innerhalb weniger Minuten ausverkauft.",
    "Die Ärzte warnen vor einer stärkeren Grippewelle in diesem Winter.",
    "Der Außenminister reiste zu Gesprächen in die Nachbarländer.",
    "Die Bahn erneuert die Strecke, Züge fallen an mehreren Wochenenden aus.",
    "Die Landwirte klagen über die anhaltende Trockenheit und schlechte Ernten.",
)


class RelevanceGate:
    """Scores how far a question's best passage stands out from the null model, and decides answerability."""

    def __init__(self, embedder: Embedder, thresholds: dict[str, float]):
        self.embedder = embedder
        self.thresholds = thresholds  # per question language

    @cached_property
    def _references(self) -> np.ndarray:
        return self.embedder.embed_passages(list(REFERENCE_PASSAGES))

    def baseline(self, query_vector: np.ndarray) -> float:
        """The question's mean similarity to the reference passages."""
        return float(np.mean(self._references @ query_vector))

    def relevant(
        self, question: str, query_vector: np.ndarray, hits: list[Hit], language: str, topic: str | None = None
    ) -> list[Hit]:
        """The hits that stand out from the baseline by at least the language's threshold, best first. `topic`: the
        question without the words naming its period, when those are matched on dates instead.

        A German question that only just passes must also share a third of its content words with the passage:
        a passage on the same topic (football) but another event (a World Cup) sits in that band. And the numbers a
        question names (years, dates, counts) must occur in the passage's article: a report on the same subject in
        another year does not answer it, however similar it reads.
        """
        base = self.baseline(query_vector)
        threshold = self.thresholds.get(language, max(self.thresholds.values()))
        q_terms = set(terms(topic or question)) if language == CORPUS_LANGUAGE else set()

        q_numbers = numbers(question)

        def admitted(hit: Hit) -> bool:
            relevance = hit.similarity - base
            if relevance < threshold:
                return False
            a = hit.article
            if q_numbers and not q_numbers <= numbers(f"{a.title}\n{a.date}\n{a.text}"):
                return False
            if relevance >= threshold + LEXICAL_BAND or not q_terms:
                return True
            shared = q_terms & set(terms(hit.article.title + "\n" + hit.chunk.text))
            return len(shared) >= MIN_SHARED_TERMS * len(q_terms)

        return [h for h in hits if admitted(h)]


def numbers(text: str) -> set[str]:
    """The numbers in `text`, thousands separators and leading zeros dropped: 1.000, 1,000, 1 000 and 1000 compare equal,
    as do 03 and 3; a date 9.11.1989 gives 9, 11 and 1989."""
    return {re.sub(r"\D", "", m[0]).lstrip("0") or "0" for m in _NUMBER.finditer(text)}
