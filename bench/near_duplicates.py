"""Precision and recall of the near-duplicate detector (ingest.near_duplicates) at several thresholds.

    .venv/bin/python bench/near_duplicates.py [--originals 300] [--seed 0]

The set: all 1,028 10kGNAD test articles, plus copies of `--originals` of them made the way outlets edit agency
stories (seeded, so the set is the same every run). Each copy gets one edit level:

- light:  one sentence dropped, 3 % of the words replaced by other words of the corpus, an outlet's closing line added
- medium: two sentences dropped, the last paragraph cut short, 6 % of the words replaced, a new first sentence
- heavy:  only the first 60 % of the sentences kept, 10 % of the words replaced, a new first sentence

True pairs are an original with each of its copies and the copies of one original with each other; every other pair
of the ~1,400 articles is a true non-duplicate (10kGNAD has many articles on the same topic: same team, same
company, same party). A pair is predicted a duplicate when the detector puts both in one story.
"""
from __future__ import annotations

import argparse
import random
import re
import time
from collections import defaultdict
from itertools import combinations

from gnad_corpus import rows

from ingest.near_duplicates import group, signature

OUTLET_LINES = ["Mehr dazu in Kürze.", "(APA/red)", "Die Redaktion hat den Bericht um Details ergänzt.",
                "Alle Entwicklungen im Liveticker."]
INTROS = ["Wie erst jetzt bekannt wurde:", "Nach Informationen mehrerer Agenturen:", "Update:",
          "Das meldete die Nachrichtenagentur am Vormittag."]
LEVELS = {"light": (1, 0.03, False, None), "medium": (2, 0.06, True, None), "heavy": (0, 0.10, True, 0.6)}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def edit(text: str, level: str, vocabulary: list[str], rng: random.Random) -> str:
    """A copy of `text` with the edits of `level` (see the module docstring)."""
    drop, swap, intro, keep = LEVELS[level]
    sentences = _SENTENCE.split(text.strip())
    if keep:
        sentences = sentences[: max(1, round(len(sentences) * keep))]
    for _ in range(min(drop, len(sentences) - 1)):
        sentences.pop(rng.randrange(len(sentences)))
    if level == "medium" and len(sentences) > 2:
        last = sentences[-1].split()
        sentences[-1] = " ".join(last[: max(3, len(last) // 2)]) + "."
    words = " ".join(sentences).split()
    for i in rng.sample(range(len(words)), k=round(len(words) * swap)):
        words[i] = rng.choice(vocabulary)
    out = " ".join(words)
    if intro:
        out = rng.choice(INTROS) + " " + out
    if level == "light":
        out += " " + rng.choice(OUTLET_LINES)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    texts = {f"gnad_{i:04d}": text for i, (_, text) in enumerate(rows())}
    vocabulary = sorted({w for t in texts.values() for w in t.split() if w.isalpha()})
    story_of = {aid: aid for aid in texts}
    level_of: dict[str, str] = {}
    for n, original in enumerate(rng.sample(sorted(texts), args.originals)):
        for level in (list(LEVELS)[n % 3], rng.choice(list(LEVELS))):
            copy = f"{original}_{level}_{len(level_of)}"
            texts[copy] = edit(texts[original], level, vocabulary, rng)
            story_of[copy], level_of[copy] = original, level

    started = time.perf_counter()
    signatures = {aid: signature(t) for aid, t in texts.items()}
    sign_ms = (time.perf_counter() - started) / len(texts) * 1000

    members = defaultdict(list)
    for aid, story in story_of.items():
        members[story].append(aid)
    true_pairs = {frozenset(p) for m in members.values() for p in combinations(m, 2)}
    level_pairs = defaultdict(set)  # recall per edit level
    for copy, level in level_of.items():  # an original with its copy of that level
        level_pairs[level].add(frozenset((story_of[copy], copy)))

    print(f"{len(texts)} articles ({args.originals} originals with 2 copies each), {len(true_pairs)} true duplicate "
          f"pairs; signature {sign_ms:.2f} ms per article\n")
    print("| threshold | precision | recall | F1 | recall light | recall medium | recall heavy | grouping s |")
    print("|---|---|---|---|---|---|---|---|")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        started = time.perf_counter()
        stories = group(signatures, threshold)
        seconds = time.perf_counter() - started
        found = defaultdict(list)
        for aid, story in stories.items():
            found[story].append(aid)
        predicted = {frozenset(p) for m in found.values() for p in combinations(m, 2)}
        hit = len(predicted & true_pairs)
        precision = hit / len(predicted) if predicted else 1.0
        recall = hit / len(true_pairs)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_level = [len(predicted & level_pairs[lv]) / len(level_pairs[lv]) for lv in LEVELS]
        print(f"| {threshold} | {precision:.3f} | {recall:.3f} | {f1:.3f} | "
              + " | ".join(f"{r:.3f}" for r in per_level) + f" | {seconds:.2f} |")


if __name__ == "__main__":
    main()
