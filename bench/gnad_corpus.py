"""The 1,028 articles of ../shared/corpora/10kgnad/test.csv as one .txt file each (`gnad_0000.txt` …), for benches.

    .venv/bin/python bench/gnad_corpus.py DIR
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

GNAD_CSV = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "10kgnad" / "test.csv"


def rows() -> list[tuple[str, str]]:
    """(section, text) of every article, in file order."""
    if not GNAD_CSV.exists():
        sys.exit(f"{GNAD_CSV} is absent")
    with GNAD_CSV.open(encoding="utf-8") as f:
        return [(r[0], r[1]) for r in csv.reader(f, delimiter=";", quotechar="'")]


def article_id(row: int) -> str:
    return f"gnad_{row:04d}.txt"


def write_corpus(folder: Path) -> int:
    """Write every article as a headerless .txt file (10kGNAD has no titles or dates); returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    all_rows = rows()
    for i, (_, text) in enumerate(all_rows):
        (folder / article_id(i)).write_text(text, encoding="utf-8")
    return len(all_rows)


if __name__ == "__main__":
    print(write_corpus(Path(sys.argv[1])), "articles written to", sys.argv[1])
