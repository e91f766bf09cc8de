"""Two steps of a search, each against the way it was done before, on an index of bench/scale.py (or any index of
the 10kGNAD test articles):

    .venv/bin/python bench/search_steps.py --index WORK/n100000

1. Fetching both sides' chunks and articles from Chroma: `Store.hybrid` (one article fetch for both sides) against
   one article fetch per side, as before. Every question's query vector and keyword matches are computed first,
   then both ways run per question, in alternating order, three rounds.
2. A whole `Retriever.search` with the passage counts of query terms kept until the keyword file changes, against
   counting them for every question, as before: two retrievers in one process, alternating per question, one pass
   in the questions' order (so the kept counts come only from earlier questions, not from a repeat).
Printed: p50 and mean ms of each, and their ratio.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from scale import QUESTIONS  # first: it puts the repo on the path and sets the offline environment

from rag import Retriever
from rag.config import Settings
from rag.store import _scored

FETCH_N = 30  # what Retriever.search asks each side for at k=5..10


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    settings = Settings(_env_file=None, index_dir=args.index, llm_base_url=None)
    kept, counted = Retriever(settings), Retriever(settings)
    for r in (kept, counted):
        r.search("Aufwärmen")
    store = kept.store
    print(f"{args.index}: {store.counts()[0]:,} articles, {len(questions)} questions\n")

    def per_side(vector, found):
        dense = store.query(vector, FETCH_N)
        have = {c.chunk.chunk_id for c in dense}
        return dense, _scored(found, store._committed(store._fetch([c for c, _ in found if c not in have], vector)))

    # embedded directly and matched by the other retriever: what `kept` caches must come from step 2 alone
    prepared = [(kept.embedder.embed_query(q), counted.store.keyword_matches(q, FETCH_N)) for q in questions]
    fetch = _alternate(
        {"one article fetch (Store.hybrid)": lambda v, f: store.hybrid(v, FETCH_N, f), "one per side": per_side},
        prepared * 3,
    )

    def recount(q):
        counted.store.keyword._df.clear()
        return counted.search(q, k=10)

    search = _alternate({"counts kept": lambda q: kept.search(q, k=10), "counted every time": recount},
                        [(q,) for q in questions])
    print("| step | way | p50 ms | mean ms |\n|---|---|---|---|")
    for step, times in (("fetch from Chroma", fetch), ("whole search", search)):
        for way, t in times.items():
            print(f"| {step} | {way} | {1000 * statistics.median(t):.1f} | {1000 * statistics.mean(t):.1f} |")
        new, old = times.values()
        print(f"| {step} | ratio | {statistics.median(new) / statistics.median(old):.3f} | "
              f"{statistics.mean(new) / statistics.mean(old):.3f} |")


def _alternate(ways: dict[str, Callable], calls: list[tuple]) -> dict[str, list[float]]:
    """Seconds per call of each way, the ways' order swapped on every other call."""
    times: dict[str, list[float]] = {w: [] for w in ways}
    for i, args in enumerate(calls):
        for way in list(ways)[:: 1 if i % 2 else -1]:
            started = time.perf_counter()
            ways[way](*args)
            times[way].append(time.perf_counter() - started)
    return times


if __name__ == "__main__":
    sys.exit(main())
