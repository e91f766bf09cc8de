"""What near-duplicate grouping costs the ingest job, on a copy of an existing 10kGNAD index.

    .venv/bin/python bench/grouping_cost.py --index DIR     # DIR: e.g. the index bench/news_questions.py --index DIR built

Copies DIR and the 10kGNAD articles to a temporary folder, then syncs: the same folder (the first sync of an index
built before grouping existed computes the signatures of its stored articles), again (no-op), with a shortened copy
of one article added, with one article changed, with the copy removed. Prints each sync's wall time and the
seconds of its "group" and "embed" stages.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from gnad_corpus import write_corpus

from ingest.sync import sync
from rag.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(args.index, work / "index")
        corpus = work / "gnad"
        write_corpus(corpus)
        settings = Settings(index_dir=work / "index", llm_base_url=None)

        def run(label: str) -> None:
            started = time.perf_counter()
            report = sync([corpus], settings)
            wall = time.perf_counter() - started
            print(f"| {label} | {wall:.2f} | {report.seconds.get('group', 0):.2f} | {report.seconds.get('embed', 0):.2f} "
                  f"| {report.articles_total} | {report.near_duplicates} |", flush=True)

        print("| sync | wall s | group s | embed s | articles | near-duplicates |\n|---|---|---|---|---|---|")
        run("first (signatures of stored articles if missing)")
        run("no-op")
        text = (corpus / "gnad_0005.txt").read_text(encoding="utf-8")
        (corpus / "copy_of_0005.txt").write_text("Wie die Agentur meldet: " + text[: len(text) * 2 // 3], encoding="utf-8")
        run("+1 article (a shortened copy of another)")
        changed = corpus / "gnad_0007.txt"
        changed.write_text(changed.read_text(encoding="utf-8") + " Ergänzung der Redaktion.", encoding="utf-8")
        run("1 changed")
        (corpus / "copy_of_0005.txt").unlink()
        run("1 removed")


if __name__ == "__main__":
    main()
