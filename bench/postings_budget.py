"""The keyword side's postings budget (`rag.keyword.POSTINGS_BUDGET`) against what the search finds and what FTS5
costs, on an index of bench/scale.py (or any index of the 10kGNAD test articles).

    .venv/bin/python bench/postings_budget.py --index WORK/n100000 [--budgets 20000,10000,5000]

In one process, every question of bench/news_questions.jsonl runs at every budget, the budgets' order rotated per
question so that none always finds the caches warm. Printed per budget: hybrid hit@1/hit@5 (the article that
answers a question, or one of its copies, ranked there; see bench/scale.py) and FTS5's time alone (p50/p95 of
`KeywordIndex.search`). The hybrid search reuses each question's query vector after its first run, so its time is
not reported here; bench/scale.py measures that.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from scale import QUESTIONS, answer_ranks  # first: it puts the repo on the path and sets the offline environment

from rag import Retriever, keyword
from rag.config import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--budgets", default="20000,10000,5000")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    records = [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    retriever = Retriever(Settings(_env_file=None, index_dir=args.index, llm_base_url=None))
    retriever.search("Aufwärmen")
    index = retriever.store.keyword
    hits = {b: [0, 0] for b in budgets}
    fts: dict[int, list[float]] = {b: [] for b in budgets}
    for i, record in enumerate(records):
        for budget in budgets[i % len(budgets):] + budgets[: i % len(budgets)]:
            keyword.POSTINGS_BUDGET = budget
            started = time.perf_counter()
            index.search(record["question"], 30)
            fts[budget].append(time.perf_counter() - started)
            if record["article"] is not None:
                ranks = answer_ranks(retriever.search(record["question"], k=5), record)
                hits[budget][0] += ranks[:1] == [1]
                hits[budget][1] += bool(ranks)
    answerable = sum(r["article"] is not None for r in records)
    print(f"{args.index}: {retriever.store.counts()[0]:,} articles, {answerable} answerable questions\n")
    print("| postings budget | hybrid hit@1 | hybrid hit@5 | FTS5 p50 / p95 ms |")
    print("|---|---|---|---|")
    for b in budgets:
        times = sorted(fts[b])
        print(f"| {b:,} | {hits[b][0]}/{answerable} | {hits[b][1]}/{answerable} | "
              f"{1000 * statistics.median(times):.1f} / {1000 * times[int(0.95 * (len(times) - 1))]:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
