"""Chroma server mode next to a local index, on the same 1,028-article index: what a new machine pays to derive its
keyword file from the server, and search latency local vs. server (same questions, same process, side by side).

    .venv/bin/python bench/server_mode.py --source DIR

`--source` is an index of the 1,028 10kGNAD test articles (see bench/scale.py). A copy of it is served by a real
`chroma run`; the local side reads another copy directly.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rag.config import Settings, prepare_environment  # noqa: E402

prepare_environment()

from chroma_server import chroma_server  # noqa: E402  (tests/chroma_server.py: a real `chroma run`)

from rag import Retriever  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "news_questions.jsonl"


def latencies(retriever: Retriever, questions: list[str]) -> list[float]:
    out = []
    for q in questions:
        t = time.perf_counter()
        retriever.search(q, k=5)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", type=Path, required=True)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="server-mode-"))
    shutil.copytree(args.source, work / "local")
    shutil.copytree(args.source, work / "data", ignore=shutil.ignore_patterns("keyword-*"))
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    with chroma_server(work) as url:
        local = Retriever(Settings(_env_file=None, index_dir=work / "local", llm_base_url=None))
        served = Retriever(Settings(_env_file=None, index_dir=work / "machine", chroma_url=url, llm_base_url=None))
        local.search("Aufwärmen")  # the model loaded
        t = time.perf_counter()
        served.view()  # a new machine's first opening of the index derives its search file from the server
        catch_up = time.perf_counter() - t
        rows = served.store.keyword.count()
        served.search("Aufwärmen")
        results = {"local": [], "server": []}
        for _ in range(2):  # interleaved rounds: both sides see the same machine load
            results["local"] += latencies(local, questions)
            results["server"] += latencies(served, questions)
            local.view().query_vectors.cache_clear()
            served.view().query_vectors.cache_clear()
        same = sum(
            [h.chunk.chunk_id for h in local.search(q, k=5)] == [h.chunk.chunk_id for h in served.search(q, k=5)]
            for q in questions
        )
    keyword_mb = sum(p.stat().st_size for p in (work / "machine").rglob("keyword-*.sqlite3")) / 1e6
    index_mb = sum(p.stat().st_size for p in (work / "local").rglob("*") if p.is_file()) / 1e6
    print(f"new machine: search file derived from the server in {catch_up:.1f} s for {rows} chunks "
          f"({1000 * catch_up / rows:.2f} ms per chunk); {keyword_mb:.0f} MB of a {index_mb:.0f} MB index")
    print(f"same top 5 from both: {same}/{len(questions)} questions\n")
    print("| search (k=5, query embedding included) | p50 ms | p95 ms |\n|---|---|---|")
    for side, lat in results.items():
        lat = sorted(lat)
        print(f"| {side} | {1000 * statistics.median(lat):.1f} | {1000 * lat[int(0.95 * (len(lat) - 1))]:.1f} |")
    ratio = statistics.median(results["server"]) / statistics.median(results["local"])
    print(f"\nserver / local p50: {ratio:.2f}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
