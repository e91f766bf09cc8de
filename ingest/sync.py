"""Make the index mirror a set of files and folders: add new articles, replace changed ones, drop deleted ones.

Unchanged articles (same content hash) cost no parsing beyond loading and no embedding. One writer at a time holds
`<index>/ingest.lock`; every article is written so that readers see either its old or its new version.
"""
from __future__ import annotations

import os
from collections import Counter
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ingest.chunking import chunk_article, passage_text
from ingest.loaders import LOADERS, LoadError, load_file
from ingest.near_duplicates import group, signature
from rag.config import Settings
from rag.embeddings import PACKAGED_MODELS, get_embedder
from rag.builds import ActiveBuild, read_active, write_active
from rag.retriever import database, open_store, settings_key
from rag.store import Store
from rag.schema import Article, Chunk

EMBED_BATCH_ARTICLES = 16  # articles embedded together: large enough to batch well, small enough to commit often


class IngestError(Exception):
    """The run cannot proceed at all (index locked or unusable); nothing was changed."""


@dataclass
class SyncReport:
    """What a sync did; `to_json()` is the `--json` summary of the fixed CLI contract."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0  # chunks written in this run
    skipped: list[dict] = field(default_factory=list)  # [{"path", "reason"}]
    duplicates: list[dict] = field(default_factory=list)  # [{"path", "article_id", "same_as"}]
    articles_total: int = 0
    chunks_total: int = 0
    near_duplicates: int = 0  # indexed articles whose story other outlets also ran (every member of such a story)
    rebuild: dict | None = None  # {"from", "to", "from_key", "to_key"} when settings changed and the index was rebuilt
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went: load, model, chunk, embed, write, total

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Scan:
    articles: list[Article]
    skipped: list[dict]
    scope_dirs: list[Path]  # folders whose vanished files mean removed articles
    scope_files: set[str]
    failed_sources: set[str]  # files (or unreadable folders) that failed to load: what they held stays indexed


def discover(paths: Sequence[Path]) -> Iterator[tuple[Path, Path | None, str | None]]:
    """(file, folder it was found under or None for a file argument, problem) for every candidate file."""
    for path in paths:
        if path.is_dir():
            unreadable: list[OSError] = []
            for dirpath, dirnames, filenames in os.walk(path, onerror=unreadable.append):  # no directory symlinks
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        yield Path(dirpath) / name, path, None
                yield from _unreadable_folders(unreadable, path)
            yield from _unreadable_folders(unreadable, path)
        elif path.exists():
            yield path, None, None
        else:
            yield path, None, "no such file or directory"


def _unreadable_folders(errors: list[OSError], root: Path) -> Iterator[tuple[Path, Path, str]]:
    while errors:
        e = errors.pop(0)
        yield Path(e.filename), root, f"cannot read folder: {e.strerror or e}"


def scan(paths: Sequence[Path], max_bytes: int | None = None) -> _Scan:
    """Load every article under `paths`; problems become `skipped` entries and never stop the run."""
    paths = [Path(os.path.abspath(p)) for p in paths]  # absolute, but symlinks keep their own names
    articles: dict[str, Article] = {}
    skipped: list[dict] = []
    failed: set[str] = set()
    for file, root, problem in discover(paths):
        if problem is None and file.suffix.lower() not in LOADERS:  # (an unreadable folder comes with its problem)
            problem = f"unsupported file type {file.suffix or '(none)'!r}"
        if problem is None:
            base_id = (file.relative_to(root) if root else Path(file.name)).as_posix()
            try:
                loaded = load_file(file, base_id, max_bytes)
            except LoadError as e:
                problem = str(e)
            except OSError as e:
                problem = f"cannot read: {e.strerror or e}"
            except Exception as e:  # a parser bug must cost one file, not the run
                problem = f"{type(e).__name__}: {e}"
            else:
                skipped.extend({"path": str(file), "reason": p} for p in loaded.problems)
                for article in loaded.articles:
                    if (other := articles.get(article.article_id)) is not None:
                        skipped.append(
                            {"path": str(file), "reason": f"article id {article.article_id!r} already used by {other.source}"}
                        )
                    else:
                        articles[article.article_id] = article
        if problem is not None:
            skipped.append({"path": str(file), "reason": problem})
            failed.add(str(file))
    dirs = [p for p in paths if p.is_dir()]
    files = {str(p) for p in paths if p.is_file()}
    return _Scan(list(articles.values()), skipped, dirs, files, failed)


def _failed(source: str, scanned: _Scan) -> bool:
    """Whether `source` could not be read in this run: the file failed, or a folder above it."""
    return any(Path(source).is_relative_to(f) for f in scanned.failed_sources)


def _claimed_elsewhere(stored_source: str, source: str, scanned: _Scan) -> bool:
    """Whether another file, still there and not read in this run, holds this article id: ids are paths relative to
    the folder given, so `a/bericht.txt` and `b/bericht.txt` ingested as `a` and `b` would be one article. (Ids of a
    moved folder are free, and so are ids that moved between files read in this run.)"""
    if not stored_source or stored_source == source or _in_scope(stored_source, scanned):
        return False
    return os.path.exists(stored_source) and not os.path.samefile(stored_source, source)


def _in_scope(source: str, scanned: _Scan) -> bool:
    if source in scanned.scope_files:
        return True
    return any(Path(source).is_relative_to(d) for d in scanned.scope_dirs)


def sync(
    paths: Sequence[Path | str],
    settings: Settings,
    progress: Callable[[int], object] | None = None,
    lock_timeout: float = 600.0,
) -> SyncReport:
    """Bring the index in line with `paths` (files or folders). `progress(n)` is called as articles are embedded.

    If the index's active build was made with another embedding model or chunking, this is a rebuild: the paths the
    active build mirrors are read too, into a new build that becomes active only once complete."""
    started = time.perf_counter()
    db = database(settings)
    db.dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(db.dir / "ingest.lock")  # with a Chroma server: one writer per machine (see README)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for another ingest to finish (lock {lock.lock_file}) …", file=sys.stderr)
        try:
            lock.acquire(timeout=lock_timeout)
        except Timeout:
            raise IngestError(f"another ingest still holds {lock.lock_file} after {lock_timeout:g} s") from None
    try:
        loading = time.perf_counter()  # the stages count from here: waiting for the lock is not loading
        active = read_active(db)
        key = settings_key(settings)
        rebuild = active is not None and active.key != key
        roots = outermost([os.path.abspath(p) for p in paths] + (list(active.roots) if active else []))
        report = SyncReport()
        given = outermost([os.path.abspath(p) for p in paths])
        scanned = scan([Path(r) for r in (roots if rebuild else given) if os.path.exists(r) or r in given],
                       int(settings.max_file_mb * 1_000_000))
        report.skipped = list(scanned.skipped)
        if rebuild:
            report.rebuild = {"from": active.embed_model, "to": settings.embed_model, "from_key": active.key, "to_key": key}
            scanned = _carry_over(scanned, Store(db, active.key), roots)
        report.seconds = {"load": time.perf_counter() - loading, "model": 0.0, "chunk": 0.0, "embed": 0.0, "write": 0.0,
                          "group": 0.0}
        _apply(scanned, settings, report, progress)
        # Complete: this build becomes (or stays) the active one; after a switch the build before it is kept for
        # readers still on it until their next search, and older ones go.
        done = ActiveBuild(key, settings.embed_model, settings.chunk_tokens, settings.chunk_overlap_tokens, tuple(roots))
        if done != active:  # rewritten only on change: readers reopen their view when the file changes
            write_active(db, done)
        if rebuild:
            db.drop_builds(keep={key, active.key})
    finally:
        lock.release()
    report.seconds = {k: round(v, 3) for k, v in {**report.seconds, "total": time.perf_counter() - started}.items()}
    return report


def outermost(roots: Sequence[str]) -> list[str]:
    """The roots without duplicates and without those inside another root (a file of a mirrored folder)."""
    unique = list(dict.fromkeys(roots))
    return [r for r in unique if not any(o != r and Path(r).is_relative_to(o) for o in unique)]


def _carry_over(scanned: _Scan, old: Store, roots: Sequence[str]) -> _Scan:
    """For a rebuild: the articles of the old build that cannot be read again from disk — their recorded folder or
    file is gone, or the file failed to load this time — come from the old build's stored text instead of being
    lost."""
    found = {a.article_id for a in scanned.articles}
    missing_roots = [Path(r) for r in roots if not os.path.exists(r)]
    keep = [
        aid
        for aid, meta in old.manifest().items()
        if aid not in found
        and (meta.get("source") in scanned.failed_sources
             or any(Path(meta.get("source", "")).is_relative_to(r) for r in missing_roots))
    ]
    return replace(scanned, articles=scanned.articles + list(old.get_articles(keep).values()))


def _group_stories(store: Store, threshold: float) -> dict[str, str]:
    """Group the index's near-duplicate articles into stories, the earliest published first (the agency original
    before the copies); returns article_id → story."""
    manifest = store.manifest()
    missing = [aid for aid, meta in manifest.items() if not meta.get("minhash")]  # indexed before grouping existed
    added = {aid: signature(a.text) for aid, a in store.get_articles(missing).items()}
    signatures = {aid: meta.get("minhash") or added.get(aid, "") for aid, meta in manifest.items()}
    order = sorted(manifest, key=lambda aid: (manifest[aid].get("date") or "9999", aid))
    stories = group({a: s for a, s in signatures.items() if s}, threshold, order)
    store.set_stories(stories, added, manifest)
    store.mark_grouped(threshold)
    return stories


def _in_shared_stories(stories: dict[str, str]) -> int:
    """How many articles (article_id → story) share their story with another (every member of such a story)."""
    sizes = Counter(stories.values())
    return sum(1 for story in stories.values() if sizes[story] > 1)


@contextmanager
def _timed(report: SyncReport, stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[stage] += time.perf_counter() - started


def _apply(scanned: _Scan, settings: Settings, report: SyncReport, progress: Callable[[int], object] | None) -> None:
    if settings.embed_model not in PACKAGED_MODELS:
        with _timed(report, "model"):
            get_embedder(settings.embed_model)  # a model that cannot load is said before a build is created for it
    store = open_store(settings, create=True)
    store.delete_orphans()  # leftovers of an interrupted run
    manifest = store.manifest()
    seen = {a.article_id for a in scanned.articles}
    gone = [
        aid
        for aid, meta in manifest.items()
        if aid not in seen and not _failed(meta.get("source", ""), scanned) and _in_scope(meta.get("source", ""), scanned)
    ]

    # Duplicates are looked up among the texts that stay indexed: not a removed article's (a renamed file is a
    # removal plus an addition, not a duplicate of its old self), nor one this run replaces (records of a file that
    # moved down a line, two files that swapped texts).
    new_text = {a.article_id: a.text_hash for a in scanned.articles}
    removed = set(gone)
    by_text = {
        m.get("text_hash"): aid
        for aid, m in manifest.items()
        if aid not in removed and new_text.get(aid, m.get("text_hash")) == m.get("text_hash")
    }

    todo: list[Article] = []
    for article in scanned.articles:
        stored = manifest.get(article.article_id)
        if stored is not None and stored.get("content_hash") == article.content_hash:
            report.unchanged += 1
            continue
        if stored is not None and _claimed_elsewhere(stored.get("source", ""), article.source, scanned):
            report.skipped.append({"path": article.source, "reason": f"article id {article.article_id!r} is already "
                                   f"used by {stored['source']} (ingest a folder above both to index both)"})
            continue
        twin = by_text.get(article.text_hash)
        if twin is not None and twin != article.article_id:
            report.duplicates.append({"path": article.source, "article_id": article.article_id, "same_as": twin})
            if stored is not None:  # it now repeats another article: its earlier text is no longer in its file
                gone.append(article.article_id)
            continue
        by_text[article.text_hash] = article.article_id
        todo.append(article)
        if stored is None:
            report.added += 1
        else:
            report.updated += 1

    if todo or gone:
        store.mark_grouped(None)
    if todo:
        with _timed(report, "model"):
            embedder = get_embedder(settings.embed_model)
        budget = min(settings.chunk_tokens, embedder.max_tokens)

        def chunk_batch(batch: list[Article]) -> list[list[Chunk]]:
            return [chunk_article(a, embedder.count_tokens, budget, settings.chunk_overlap_tokens) for a in batch]

        batches = [todo[i : i + EMBED_BATCH_ARTICLES] for i in range(0, len(todo), EMBED_BATCH_ARTICLES)]
        # Chunking (Python) of the next batch overlaps embedding (C or torch, GIL released) of this one; "chunk"
        # then counts only the time spent waiting for it.
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(chunk_batch, batches[0])
            for i, batch in enumerate(batches):
                with _timed(report, "chunk"):
                    chunked = pending.result()
                if i + 1 < len(batches):
                    pending = pool.submit(chunk_batch, batches[i + 1])
                with _timed(report, "embed"):
                    vectors = embedder.embed_passages([passage_text(a, c.text, c.start) for a, cs in zip(batch, chunked) for c in cs])
                bounds = np.cumsum([0] + [len(cs) for cs in chunked])
                with _timed(report, "write"):
                    store.write_articles(
                        [(a, cs, vectors[lo:hi]) for a, cs, lo, hi in zip(batch, chunked, bounds[:-1], bounds[1:])],
                        {a.article_id: signature(a.text) for a in batch},
                    )
                report.chunks += int(bounds[-1])
                if progress:
                    progress(len(batch))

    store.delete_articles(gone)
    report.removed = len(gone)
    if store.grouped_with() != settings.duplicate_threshold:  # changed, interrupted, threshold changed, or new
        with _timed(report, "group"):
            stories = _group_stories(store, settings.duplicate_threshold)
    else:
        stories = {aid: meta.get("story") or aid for aid, meta in manifest.items()}
    report.near_duplicates = _in_shared_stories(stories)
    if todo or gone:
        store.mark_updated()
    report.articles_total, report.chunks_total = store.counts()
