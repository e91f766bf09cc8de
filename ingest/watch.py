"""Keep the index in step with folders as files arrive, change or go (`python -m ingest --watch`, RAG_WATCH=1).

watchfiles (Rust `notify`) reports file-system events, batched with a debounce, so a copy of many files becomes
one sync; each sync is the ordinary incremental one, so only what changed is embedded.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from watchfiles import Change, watch

from ingest.loaders import LOADERS
from ingest.sync import IngestError, SyncReport
from ingest.via_page import sync_or_hand_over
from rag.config import Settings
from rag.store import IndexUnavailable


def article_events(roots: Sequence[Path]) -> Callable[[Change, str], bool]:
    """The filter of events worth a sync: files of a type we load, not hidden (editors' swap files, .git) below
    the watched folder; and any deletion, since a removed or renamed folder has no file suffix."""
    roots = [Path(r).resolve() for r in roots]

    def wanted(change: Change, path: str) -> bool:
        p = Path(path)
        if change == Change.deleted and not p.suffix:
            return True
        below = next((p.relative_to(r).parts for r in roots if p.is_relative_to(r)), p.parts)
        return p.suffix.lower() in LOADERS and not any(part.startswith(".") for part in below)

    return wanted


def watch_and_sync(
    paths: Sequence[Path],
    settings: Settings,
    on_report: Callable[[SyncReport], object],
    on_error: Callable[[Exception], object],
    stop: threading.Event | None = None,
    debounce_ms: int = 1500,
) -> None:
    """Sync `paths` once, then again after every batch of changes under them, until `stop` is set (or Ctrl-C).
    A failed sync is reported through `on_error` and the watch goes on. While a page serves the index, the syncs
    run in the page (see `ingest.via_page`)."""

    def run() -> None:
        try:
            on_report(sync_or_hand_over(paths, settings)[0])
        except (IngestError, IndexUnavailable) as e:
            on_error(e)
        except Exception as e:  # noqa: BLE001 - a watcher that dies silently is worse than one that reports
            on_error(RuntimeError(f"{type(e).__name__}: {e}"))

    run()
    filter_ = article_events(paths)
    for _ in watch(*paths, watch_filter=filter_, debounce=debounce_ms, stop_event=stop, raise_interrupt=False):
        run()


def start_watching(folder: Path, settings: Settings, log: Callable[[str], object]) -> threading.Event:
    """Watch `folder` in a background thread (the page's RAG_WATCH mode); set the returned event to stop."""
    stop = threading.Event()

    def report(r: SyncReport) -> None:
        if r.added or r.updated or r.removed or r.skipped:
            log(f"watch: {r.added} added, {r.updated} updated, {r.removed} removed, {len(r.skipped)} skipped")

    if not folder.is_dir():
        log(f"watch: {folder} is not a folder; nothing is watched")
        return stop
    thread = threading.Thread(
        target=watch_and_sync, args=([folder], settings, report, lambda e: log(f"watch: {e}"), stop),
        name="corpus-watch", daemon=True,
    )
    thread.start()
    return stop
