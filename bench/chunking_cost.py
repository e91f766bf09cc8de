"""What chunking the 1,028 10kGNAD articles costs: CPU seconds, token counts, chunks and tokens fed to the model.

    .venv/bin/python bench/chunking_cost.py [--articles N] [--tokens 270] [--overlap 50]

Chunking runs in a thread beside the embedding during an ingest, and both want the 2 cores, so its CPU time is
taken from the embedding. Compare two versions of the code by running this from each (e.g. a `git worktree` of the
older commit on PYTHONPATH), alternately.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from gnad_corpus import article_id, rows  # noqa: E402


def main() -> None:
    from ingest.chunking import chunk_article, passage_text
    from ingest.loaders import load_file
    from rag.config import get_settings
    from rag.embeddings import get_embedder
    from rag.sentences import sentence_spans

    settings = get_settings()
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=0, help="only the first N articles (0 = all 1,028)")
    ap.add_argument("--tokens", type=int, default=settings.chunk_tokens)
    ap.add_argument("--overlap", type=int, default=settings.chunk_overlap_tokens)
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="chunking-cost-"))
    articles = []
    for i, (_, text) in enumerate(rows()[: args.articles or None]):
        path = folder / article_id(i)
        path.write_text(text, encoding="utf-8")
        articles.extend(load_file(path, path.name).articles)
    embedder = get_embedder(settings.embed_model)
    sentence_spans("Zum Aufwärmen. Ein Satz.")  # SoMaJo's start-up is not chunking

    counts, counted = [0], [0.0]

    def count_tokens(text: str) -> int:
        started = time.process_time()
        try:
            return embedder.count_tokens(text)
        finally:
            counts[0] += 1
            counted[0] += time.process_time() - started

    started = time.process_time()
    for article in articles:
        sentence_spans(article.text)
    splitting = time.process_time() - started
    started = time.process_time()
    chunks = [(a, c) for a in articles for c in chunk_article(a, count_tokens, args.tokens, args.overlap)]
    chunking = time.process_time() - started
    fed = sum(embedder.count_tokens(passage_text(a, c.text, c.start)) for a, c in chunks)

    import ingest

    print(f"\nChunking {len(articles)} 10kGNAD articles with the code in {Path(ingest.__file__).parent.parent}, "
          f"{settings.embed_model}, budget {args.tokens}, overlap {args.overlap} (CPU seconds)\n")
    print("| chunks | tokens fed | token counts | chunking CPU s | of it counting | of it sentence splitting |")
    print("|---|---|---|---|---|---|")
    print(f"| {len(chunks)} | {fed} | {counts[0]} | {chunking:.1f} | {counted[0]:.1f} | {splitting:.1f} |")


if __name__ == "__main__":
    main()
