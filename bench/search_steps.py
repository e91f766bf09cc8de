"""Where a search's time goes: each step of `Retriever.search` timed alone, per news question, in one process.

    .venv/bin/python bench/search_steps.py --index DIR [--rounds 2]

DIR: any index of the news articles (bench/news_questions.py --index DIR, or a scale index, bench/scale.py). Per
question and round, in this order: the query embedding; the keyword search (its German analysis and tantivy); Chroma's
query for the 30 nearest ids and distances; the read of both sides' passages, articles and vectors from the search
file; then the whole search (k=5) with the query embedding not cached. The whole is more than the steps: it also
fuses and ranks, and questions that name a period embed one or two more wordings. Prints p50 and p95 per step.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.config import Settings, prepare_environment  # noqa: E402

prepare_environment()

from rag import Retriever  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "news_questions.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    retriever = Retriever(Settings(_env_file=None, index_dir=args.index, llm_base_url=None))
    retriever.search("Aufwärmen")
    view = retriever.view()
    store, embedder = view.store, view.embedder
    times: dict[str, list[float]] = {}

    def timed(step: str, call):
        t = time.perf_counter()
        out = call()
        times.setdefault(step, []).append(time.perf_counter() - t)
        return out

    for _ in range(args.rounds):
        for q in questions:
            vector = timed("query embedding", lambda: embedder.embed_query(q))
            found = timed("keyword search (tantivy)", lambda: store.keyword.search(q, 30))
            nearest = timed("Chroma query (ids, distances)", lambda: store._nearest(vector, 30, None))
            ids = [cid for cid, _ in nearest] + [cid for cid, _ in found]
            timed("search file read (both sides)", lambda: store.keyword.committed(ids))
            view.query_vectors.cache_clear()
            timed("whole search (k=5)", lambda: retriever.search(q, k=5))
    print(f"{args.index}: {store.counts()[0]:,} articles, {len(questions)} questions × {args.rounds} rounds\n")
    print("| step | p50 ms | p95 ms |\n|---|---|---|")
    for step, values in times.items():
        values = sorted(values)
        print(f"| {step} | {1000 * statistics.median(values):.1f} | {1000 * values[int(0.95 * (len(values) - 1))]:.1f} |")


if __name__ == "__main__":
    main()
