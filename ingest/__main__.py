"""`python -m ingest [PATH ...] [--index DIR] [--json] [--watch]`: make the index mirror the given files and folders.

Exit status: 0 all files indexed (or unchanged), 3 finished but some files were skipped (see the summary),
1 nothing could be done (index locked or unusable), 2 bad usage. With `--watch` it keeps running and syncs again
after every batch of file changes; Ctrl-C ends it with status 0.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rag.config import get_settings, prepare_environment

EXIT_SKIPPED = 3


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default: RAG_INDEX_DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary as the last line (one per sync with --watch).")
@click.option("--watch", is_flag=True, help="Keep running: sync again whenever files under PATHS change (Ctrl-C stops).")
def main(paths: tuple[Path, ...], index_dir: Path | None, as_json: bool, watch: bool) -> None:
    """Index article files and folders (default: the corpus folder). New articles are added, changed ones
    replaced, and articles whose files vanished from a given folder removed."""
    prepare_environment()
    from ingest.sync import IngestError
    from ingest.via_page import sync_or_hand_over
    from rag.store import IndexUnavailable

    settings = get_settings()
    if index_dir:
        settings = settings.model_copy(update={"index_dir": index_dir})
    targets = list(paths) or [settings.corpus_dir]
    if watch:
        from ingest.watch import watch_and_sync

        missing = [str(p) for p in targets if not p.exists()]
        if missing:
            raise click.UsageError(f"cannot watch what does not exist: {', '.join(missing)}")
        click.echo(f"watching {', '.join(map(str, targets))} (Ctrl-C stops)", err=True)
        try:
            watch_and_sync(targets, settings, lambda r: _print_report(r, settings, as_json),
                           lambda e: click.echo(f"Error: {e}", err=True))
        except KeyboardInterrupt:  # during a sync: what was committed stays, the next run finishes the rest
            pass
        return
    bar = _progress_bar(as_json)
    try:
        report, page = sync_or_hand_over(targets, settings, progress=bar.update if bar else None)
    except (IngestError, IndexUnavailable) as e:
        raise click.ClickException(str(e)) from None
    finally:
        if bar:
            bar.close()
    if page:
        click.echo(f"indexed by the page serving this index ({page})", err=True)
    _print_report(report, settings, as_json)
    sys.exit(EXIT_SKIPPED if report.skipped else 0)


def _progress_bar(as_json: bool):
    if as_json or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(desc="embedding", unit="article")


def _print_report(report, settings, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    if report.rebuild:
        r = report.rebuild
        click.echo(f"rebuilt as {r['to_key']} for {r['to']} (was {r['from_key']} for {r['from']}); the new build is now active")
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {report.removed} removed, "
        f"{report.chunks} chunks written; index now holds {report.articles_total} articles "
        f"in {report.chunks_total} chunks ({settings.index_dir})"
    )
    if report.near_duplicates:
        click.echo(f"{report.near_duplicates} articles belong to stories that several outlets ran (each story counts once in results)")
    for d in report.duplicates:
        click.echo(f"duplicate: {d['path']} has the same text as {d['same_as']} (indexed once)")
    for s in report.skipped:
        click.echo(f"skipped: {s['path']}: {s['reason']}", err=True)


if __name__ == "__main__":
    main()
