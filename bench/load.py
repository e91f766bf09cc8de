"""The running page under load over loopback: 20 concurrent chat users, then 1,000 sequential searches.

    .venv/bin/python bench/load.py [--index DIR] [--users 20] [--questions 200] [--searches 1000]

Starts `app.py` (extractive mode) in its own process on a free port, on DIR (default: a fresh index of the seed
article and 100 10kGNAD articles), and talks to it with gradio_client like any other client. Prints errors,
latency p50/p95 and the server's resident memory (RSS, from /proc) before and after each phase.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from gnad_corpus import article_id, rows  # noqa: E402

SEED = REPO / "corpus" / "000_717496cbf72b2f1d.txt"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--searches", type=int, default=1000)
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "RAG_AUTH"} | {"RAG_LLM_BASE_URL": "", "RAG_WATCH": "false"}
    if args.index is None:
        work = Path(tempfile.mkdtemp(prefix="load-"))
        corpus = work / "corpus"
        corpus.mkdir()
        shutil.copy(SEED, corpus / SEED.name)
        for i, (_, text) in enumerate(rows()[:100]):
            (corpus / article_id(i)).write_text(text, encoding="utf-8")
        args.index = work / "index"
        subprocess.run([sys.executable, "-m", "ingest", str(corpus), "--index", str(args.index)], cwd=REPO, env=env,
                       check=True)
    env["RAG_INDEX_DIR"] = str(args.index)
    env["RAG_PORT"] = str(port := free_port())
    server = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        from gradio_client import Client

        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 300
        while True:
            try:
                Client(url, verbose=False)
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the app did not start: {server.stderr.read()[-2000:]}")
                time.sleep(1)
        questions = [json.loads(line)["question"] for line in (HERE / "news_questions.jsonl").read_text("utf-8").splitlines()
                     if line.strip()]
        Client(url, verbose=False).predict("Aufwärmen", "", "", [], api_name="/chat")  # model loaded, caches warm
        rss_start = rss_mb(server.pid)

        per_user = [questions[(u * 7 + i) % len(questions)] for u in range(args.users)
                    for i in range(args.questions // args.users)]
        latencies: list[float] = []
        errors: list[str] = []

        def user(u: int) -> None:
            client = Client(url, verbose=False)
            mine = per_user[u * (args.questions // args.users):(u + 1) * (args.questions // args.users)]
            for q in mine:
                t = time.perf_counter()
                try:
                    reply, panel = client.predict(q, "", "", [], api_name="/chat")
                    if not reply.strip():
                        errors.append(f"empty reply to {q!r}")
                except Exception as e:  # noqa: BLE001 - every failure counts as an error here
                    errors.append(f"{type(e).__name__}: {e}")
                latencies.append(time.perf_counter() - t)

        t = time.perf_counter()
        with ThreadPoolExecutor(args.users) as pool:
            list(pool.map(user, range(args.users)))
        chat_wall = time.perf_counter() - t
        rss_chat = rss_mb(server.pid)

        client = Client(url, verbose=False)
        search_lat: list[float] = []
        samples = [(0, rss_chat)]
        search_errors = 0
        for i in range(args.searches):
            t = time.perf_counter()
            try:
                client.predict(questions[i % len(questions)], 5, api_name="/search")
            except Exception:  # noqa: BLE001
                search_errors += 1
            search_lat.append(time.perf_counter() - t)
            if (i + 1) % (args.searches // 4) == 0:
                samples.append((i + 1, rss_mb(server.pid)))

        print(f"\nLoad on the running page (extractive mode, index {args.index}, server RSS from /proc)\n")
        print("| phase | requests | errors | p50 s | p95 s | wall s | RSS before MB | RSS after MB |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {args.users} concurrent chat users | {len(latencies)} | {len(errors)} | {statistics.median(latencies):.2f} | "
              f"{pct(latencies, 0.95):.2f} | {chat_wall:.1f} | {rss_start:.0f} | {rss_chat:.0f} |")
        print(f"| sequential searches | {len(search_lat)} | {search_errors} | {statistics.median(search_lat):.3f} | "
              f"{pct(search_lat, 0.95):.3f} | {sum(search_lat):.1f} | {rss_chat:.0f} | {samples[-1][1]:.0f} |")
        print("\nRSS during the searches (MB): " + ", ".join(f"after {n}: {mb:.0f}" for n, mb in samples))
        for e in errors[:5]:
            print("error:", e)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # an older app.py waited for open event streams
            server.kill()


if __name__ == "__main__":
    main()
