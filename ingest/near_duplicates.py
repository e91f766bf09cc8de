"""Near-duplicate articles — one agency story in several outlets with small edits, often cut short — found with
MinHash/LSH (datasketch) over word 3-grams of the body, and grouped so that a story takes one slot in the results.

Two articles are copies when most of the shorter one's 3-grams occur in the other (containment, estimated from
the MinHash Jaccard similarity and the two 3-gram counts). A signature is stored with each article, so a sync
groups new articles with the indexed ones without re-reading them; the threshold is measured in
`bench/near_duplicates.py`.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.terms import words

NUM_PERM = 128
LSH_SHARE = 0.25
MIN_CONTAINED = 60  # 3-grams (≈ 60 words) below which only Jaccard similarity counts
SEED = 1
SCHEME = "affine32"  # fixed, since signatures are stored: 32-bit values, 4 bytes each
SHINGLE_WORDS = 3


def signature(text: str) -> str:
    """The MinHash signature of an article body with its number of 3-grams, as a short string for the index's
    metadata: "<3-grams>:<base64 of 128 32-bit minimums>"."""
    from datasketch import MinHash

    tokens = words(text)
    shingles = {" ".join(tokens[i : i + SHINGLE_WORDS]) for i in range(max(1, len(tokens) - SHINGLE_WORDS + 1))}
    m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return f"{len(shingles)}:" + base64.b64encode(m.hashvalues.astype("<u4").tobytes()).decode("ascii")


@dataclass(frozen=True)
class _Signature:
    size: int
    minhash: object


def _decode(encoded: str) -> _Signature:
    from datasketch import LeanMinHash  # read-only, and without MinHash's costly set-up of permutations

    size, _, data = encoded.partition(":")
    values = np.frombuffer(base64.b64decode(data), dtype="<u4").astype(np.uint32)
    return _Signature(int(size), LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME))


def _containment(a: _Signature, b: _Signature) -> float:
    """The estimated share of the shorter article's 3-grams that occur in the other: an outlet that cuts an agency
    story short keeps a copy, though the Jaccard similarity of the two falls with every sentence cut. Short texts
    (a two-line stub around a stock phrase) are compared by Jaccard similarity instead."""
    jaccard = a.minhash.jaccard(b.minhash)
    if min(a.size, b.size) < MIN_CONTAINED:  # a short text is "contained" in anything sharing a stock phrase
        return jaccard
    shared = jaccard * (a.size + b.size) / (1 + jaccard)
    return min(1.0, shared / max(1, min(a.size, b.size)))


def similarity(a: str, b: str) -> float:
    """How much of the shorter article two signatures show to be in the other (estimated containment, 0–1)."""
    return _containment(_decode(a), _decode(b))


def group(signatures: Mapping[str, str], threshold: float, order: Sequence[str] | None = None) -> dict[str, str]:
    """article_id → the id of its story's first member in `order` (default: sorted ids), for every article with a
    signature. An article joins a story only if its `similarity` to every member reaches `threshold`: a round-up
    that quotes two short reports whole contains both, but does not make them one story. LSH finds the candidates,
    so the cost grows with the number of articles, not with its square."""
    from datasketch import MinHashLSH

    ids = [i for i in (order if order is not None else sorted(signatures)) if i in signatures]
    decoded = {i: _decode(signatures[i]) for i in ids}
    # Candidates by Jaccard, which is low when one article holds only part of the other: a copy keeping a quarter
    # of its original has Jaccard ≈ 0.25, so the LSH threshold sits well below the containment one.
    lsh = MinHashLSH(threshold=max(0.1, threshold * LSH_SHARE), num_perm=NUM_PERM)
    position = {i: n for n, i in enumerate(ids)}
    story: dict[str, str] = {}
    members: dict[str, list[str]] = {}

    def _mostly_alike(i: str, group: list[str]) -> bool:
        # two copies of one original each differ from it, so between themselves half the threshold will do; two
        # reports a round-up both contain share next to nothing
        return all(_containment(decoded[i], decoded[m]) >= threshold / 2 for m in group)

    for i in ids:
        for s in sorted({story[j] for j in lsh.query(decoded[i].minhash)}, key=position.get):
            if _containment(decoded[i], decoded[s]) >= threshold and _mostly_alike(i, members[s]):
                break
        else:
            s = i
        story[i] = s
        members.setdefault(s, []).append(i)
        lsh.insert(i, decoded[i].minhash)
    return story
