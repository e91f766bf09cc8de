"""Extractive answers (the offline default): quotes with [n], the right citation, refusals when off-topic."""
from __future__ import annotations

import pytest

from conftest import SEED
from rag.llm import check_citations

UNRELATED = [
    "Wer gewann die Fußball-Weltmeisterschaft 2014?",
    "Wie backe ich einen Apfelstrudel?",
    "What is the capital of Australia?",
    "Wie funktioniert eine Wärmepumpe?",
]


def test_extractive_answer_quotes_and_cites_the_seed(answerer):
    answer = answerer.answer("Wie viele Pioniere will Nordkorea nach Kursk schicken?")
    assert answer.answerable and answer.mode == "extractive" and answer.done
    assert "6.000" in answer.text and "[1]" in answer.text
    assert answer.text.startswith("Die Artikel sagen dazu")
    first = answer.citations[0]
    assert first.n == 1 and first.hit.article.article_id == SEED.name
    assert "6.000 Pioniere" in first.quote
    assert all(part in first.hit.article.text for part in first.quote.split(" … "))
    markers = {int(m) for m in __import__("re").findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.n for c in answer.citations}


def test_quotes_from_two_passages_of_one_article_cite_one_source(answerer):
    from app import LABELS, quote_spans, sources_html
    from ingest.chunking import chunk_article
    from ingest.loaders import load_file
    from rag.schema import Hit

    [article] = load_file(SEED, SEED.name).articles
    chunks = chunk_article(article, answerer.retriever.embedder.count_tokens, 80, 0)
    first = next(c for c in chunks if "Wonsan" in c.text)
    later = next(c for c in chunks if "6.000 Pioniere" in c.text)
    assert first.index != later.index
    hits = [Hit(later, article, 0.9, 1, 0.9), Hit(first, article, 0.8, 2, 0.8)]
    answer = answerer._extractive("Wie viele Pioniere schickt Nordkorea und wo traf Kim Lawrow?", hits, "de",
                                  answerer.retriever.view())
    quoted = [line for line in answer.text.splitlines()[1:] if line.endswith("]")]
    assert any("Wonsan" in q for q in quoted) and any("6.000" in q for q in quoted)  # both passages are quoted
    assert [c.n for c in answer.citations] == [1] and "[2]" not in answer.text  # ... as one source
    [citation] = answer.citations
    assert len(quote_spans(citation)) == len(quoted)  # every quote is marked in the article, wherever it sits
    assert sources_html(answer, LABELS["de"]).count("<mark>") >= len(quoted)
    listed = citation.to_json()["quotes"]  # ... and an API client gets each quote's place
    assert [q["text"] for q in listed] == citation.quote.split(" … ")
    assert all(article.text[q["start"] : q["end"]] == q["text"] for q in listed)
    cited = citation.hit.chunk
    assert any(not (cited.start <= q["start"] < cited.end) for q in listed)  # one lies outside the cited passage


def test_english_question_gets_an_english_frame(answerer):
    answer = answerer.answer("How many engineers will North Korea send to Kursk?")
    assert answer.answerable and answer.text.startswith("The articles say")
    assert "6.000" in answer.text and answer.citations[0].hit.article.article_id == SEED.name


@pytest.mark.parametrize("question", UNRELATED)
def test_unrelated_questions_are_refused(answerer, question):
    answer = answerer.answer(question)
    assert not answer.answerable and answer.citations == ()
    assert "nicht" in answer.text or "not" in answer.text


def test_a_number_the_article_does_not_contain_means_no_answer(answerer):
    # the seed is about 6.000 engineers; the same question about another number or year is not answered by it
    assert answerer.answer("Wie viele Pioniere will Nordkorea im Jahr 2025 nach Kursk schicken?").answerable
    refused = answerer.answer("Wie viele Pioniere wollte Nordkorea im Jahr 2019 nach Kursk schicken?")
    assert not refused.answerable and refused.citations == ()


def test_answer_json_has_the_contract_keys(answerer):
    data = answerer.answer("Wo traf Kim den russischen Außenminister?").to_json()
    assert set(data) >= {"answer", "answerable", "mode", "citations"}
    assert set(data["citations"][0]) >= {"n", "article_id", "source", "title", "date", "quote"}


@pytest.mark.parametrize(
    ("raw", "final", "text", "cited"),
    [
        ("A [1]. B [9]. C [2].", True, "A [1]. B. C [2].", [1, 2]),
        ("A [2, 1] und [0].", True, "A [2][1] und.", [2, 1]),
        ("A [1] B [", False, "A [1] B ", [1]),
        ("A [1] B [1", False, "A [1] B ", [1]),
        ("Text ohne Quelle.", True, "Text ohne Quelle.", []),
    ],
)
def test_check_citations_keeps_only_passages_sent(raw, final, text, cited):
    assert check_citations(raw, 3, final) == (text, cited)


def test_follow_up_without_llm_is_searched_with_the_previous_question(answerer):
    from rag.followup import standalone_question

    previous = ["Wie viele nordkoreanische Soldaten wurden nach Russland verlegt?"]
    query = standalone_question("Und wie viele Bauarbeiter?", previous, answerer.settings)
    assert query == previous[0] + " Und wie viele Bauarbeiter?"
    assert answerer.retriever.search(query, k=1)[0].article.article_id == SEED.name
    answer = answerer.answer("Und wie viele Bauarbeiter?", previous=previous)
    assert answer.answerable and "Bauarbeiter" in answer.citations[0].quote and "6.000" in answer.text
    # a standalone question is left alone
    assert standalone_question("Welche Chemikalie setzten Rebellen in Syrien ein?", previous, answerer.settings) == (
        "Welche Chemikalie setzten Rebellen in Syrien ein?"
    )


@pytest.mark.parametrize(
    "question, follows",
    [
        ("Und wie viele Bauarbeiter?", True),
        ("Wann soll es eröffnen?", True),
        ("Was sagte er dazu?", True),
        ("How many did it send?", True),
        ("Warum?", True),
        ("Wer ist Olaf Scholz?", False),
        ("Gibt es neue Regeln für Mietverträge in Deutschland?", False),
        ("Können Sie mir sagen, wie viele Pioniere Nordkorea schickt?", False),
    ],
)
def test_what_counts_as_a_follow_up(question, follows):
    from rag.followup import is_follow_up

    assert is_follow_up(question) is follows


@pytest.mark.parametrize(
    "question", ["Gibt es neue Regeln für Mietverträge in Deutschland?", "Wer ist Olaf Scholz?", "Wer ist Angela Merkel?"]
)
def test_a_new_question_in_a_conversation_is_answered_as_if_asked_alone(answerer, question):
    previous = ["Wie viele Pioniere will Nordkorea nach Kursk schicken?"]
    alone, in_conversation = answerer.answer(question), answerer.answer(question, previous=previous)
    assert not alone.answerable
    assert (in_conversation.answerable, in_conversation.text) == (alone.answerable, alone.text)


@pytest.mark.parametrize(
    "question, language",
    [
        ("How much more will an average household in Graz pay for district heating?", "en"),
        ("When will the U5 in Vienna open?", "en"),
        ("Which hospital in Aleppo was hit in the attack?", "en"),
        ("Wie viele Pioniere will Nordkorea nach Kursk schicken?", "de"),
        ("Was kostet die Fernwärme in Wien?", "de"),
        ("Wer traf Lawrow?", "de"),
    ],
)
def test_the_question_s_language_is_told_by_words_of_one_language_only(question, language):
    from rag.terms import question_language

    assert question_language(question) == language  # "in", "an", "will" are words of both


@pytest.mark.parametrize(
    ("byline", "agencies"),
    [
        ("APA/dpa/AFP", ("APA", "dpa", "AFP")),
        ("Der Standard, APA", ("Der Standard", "APA")),
        ("Reuters & AP", ("Reuters", "AP")),
        ("Stadt und Land", ("Stadt und Land",)),
        (" dpa ", ("dpa",)),
        ("Bundesland Salzburg", ("Bundesland Salzburg",)),
        ("APA / APA", ("APA",)),
        ("", ()),
    ],
)
def test_a_byline_names_each_of_its_agencies(byline, agencies):
    from rag.schema import byline_agencies

    assert byline_agencies(byline) == agencies


def test_english_function_words_are_no_search_terms():
    from rag.terms import index_terms

    # "have" once matched an English quote in a German article and outranked the article asked about
    assert index_terms("Which village in Donetsk could Russia claim to have captured, and where did he say so?") == [
        "villag", "donetsk", "russia", "claim", "captured", "say"
    ]


def test_date_and_source_filters_narrow_retrieval(answerer):
    from rag.filters import SearchFilter

    question = "Wie viele Pioniere will Nordkorea nach Kursk schicken?"
    july = SearchFilter(date_from="2025-07-01", date_to="2025-07-31", agencies=("dpa",))  # signed "APA/dpa/AFP"
    assert {h.article.article_id for h in answerer.retriever.search(question, filters=july)} == {SEED.name}
    assert {"APA", "dpa", "AFP"} <= set(answerer.retriever.store.agencies())  # what the page offers
    assert "APA/dpa/AFP" not in answerer.retriever.store.agencies()
    before = SearchFilter(date_to="2025-06")
    assert all(h.article.article_id != SEED.name for h in answerer.retriever.search(question, filters=before))
    refused = answerer.answer(question, filters=before)
    assert not refused.answerable and refused.citations == ()
    assert answerer.retriever.search(question, filters=SearchFilter(agencies=("Reuters",))) == []
    nothing = answerer.answer(question, filters=SearchFilter(agencies=("Reuters",)))
    assert not nothing.answerable and "Filtern" in nothing.notice  # said, not blamed on the articles
    for bad in ("gestern", "2025-00", "2025-13", "2025-02-30"):
        with pytest.raises(ValueError, match="not a date"):
            SearchFilter(date_from=bad)


def test_an_answer_embeds_a_plain_question_once(answerer, monkeypatch):
    """Search, relevance gate and quote scoring share the question's embedding (≈ 15–40 ms each here)."""
    view = answerer.retriever.view()
    view.query_vectors.cache_clear()
    encoder, embedded = view.embedder.query_encoder(), []
    embed = encoder.embed

    def counting(text):
        embedded.append(text)
        return embed(text)

    monkeypatch.setattr(encoder, "embed", counting)
    answer = answerer.answer("Wie viele Pioniere will Nordkorea nach Kursk schicken?")
    assert answer.answerable and answer.mode == "extractive"
    assert embedded == ["Wie viele Pioniere will Nordkorea nach Kursk schicken?"]
