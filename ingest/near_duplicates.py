"""Near-duplicate articles — one agency story in several outlets with small edits — found with MinHash/LSH
(datasketch) over word 3-grams of the body, and grouped so that a story takes one slot in the results.

A signature is stored with each article (base64 of 128 32-bit minimums), so a sync compares new articles with
the indexed ones without re-reading them; the threshold is measured in `bench/near_duplicates.py`.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

import numpy as np

from rag.terms import words

NUM_PERM = 128
SCHEME = "affine32"  # fixed, since signatures are stored: 32-bit values, 4 bytes each
SHINGLE_WORDS = 3


def signature(text: str) -> str:
    """The MinHash signature of an article body, as a short string for the index's metadata."""
    from datasketch import MinHash

    tokens = words(text)
    shingles = {" ".join(tokens[i : i + SHINGLE_WORDS]) for i in range(max(1, len(tokens) - SHINGLE_WORDS + 1))}
    m = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return base64.b64encode(m.hashvalues.astype("<u4").tobytes()).decode("ascii")


def _minhash(encoded: str):
    from datasketch import MinHash

    values = np.frombuffer(base64.b64decode(encoded), dtype="<u4").astype(np.uint32)
    return MinHash(num_perm=NUM_PERM, hashvalues=values, scheme=SCHEME)


def similarity(a: str, b: str) -> float:
    """The estimated Jaccard similarity of two signatures' 3-gram sets."""
    return float(_minhash(a).jaccard(_minhash(b)))


def group(signatures: Mapping[str, str], threshold: float, order: Sequence[str] | None = None) -> dict[str, str]:
    """article_id → the id of its story's first member in `order` (default: sorted ids), for every article with a
    signature. Articles are joined when their estimated Jaccard similarity reaches `threshold`; LSH finds the
    candidates, so the cost grows with the number of articles, not with its square."""
    from datasketch import MinHashLSH

    ids = list(order) if order is not None else sorted(signatures)
    ids = [i for i in ids if i in signatures]
    hashes = {i: _minhash(signatures[i]) for i in ids}
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    parent = {i: i for i in ids}
    position = {i: n for n, i in enumerate(ids)}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in ids:
        for j in lsh.query(hashes[i]):
            if hashes[i].jaccard(hashes[j]) >= threshold:  # LSH candidates include some below the threshold
                a, b = root(i), root(j)
                if a != b:  # the earlier one in `order` stays the story's id
                    parent[max(a, b, key=position.get)] = min(a, b, key=position.get)
        lsh.insert(i, hashes[i])
    return {i: root(i) for i in ids}
