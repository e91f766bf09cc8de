"""While the page serves an index, it is that index's only writer; an ingest in another process is handed to it.

Chroma's PersistentClient keeps each collection's vector index in memory, per process: vectors that another process
writes into the same directory stay invisible to the page, and its next lookups of them fail ("Error finding id").
So the page announces itself in `<index>/page.json`, and `python -m ingest` sends its paths to the page's `ingest`
endpoint (`POST /api/ingest`) with the token from that file (readable by its owner only), and the page runs the
ordinary sync in its own process. Several serving processes
on one index need Chroma's own server instead (see the README).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.sync import IngestError, SyncReport, sync
from rag.config import Settings

PAGE_FILE = "page.json"


def announce(index_dir: Path | str, url: str, token: str) -> None:
    """Record that this process serves the page for `index_dir` at `url`, with the token an ingest request must
    carry. The file is readable by its owner only, so only the same user can hand work to the page."""
    path = Path(index_dir) / PAGE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"url": url, "pid": os.getpid(), "token": token}, f)
    os.replace(tmp, path)  # never seen half-written


def withdraw(index_dir: Path | str) -> None:
    """Remove this process's announcement (a later page's is left alone)."""
    path = Path(index_dir) / PAGE_FILE
    try:
        if json.loads(path.read_text("utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (FileNotFoundError, ValueError):
        pass


def serving_page(index_dir: Path | str) -> dict | None:
    """`{"url", "pid", "token"}` of a live page serving `index_dir` from another process, or None."""
    path = Path(index_dir) / PAGE_FILE
    try:
        page = json.loads(path.read_text("utf-8"))
        pid = int(page["pid"])
    except FileNotFoundError:
        return None
    except PermissionError:
        raise IngestError(f"a page run by another user serves this index ({path}); ingest through that page") from None
    except (ValueError, KeyError, TypeError):
        raise IngestError(f"{path} is damaged; if no page is running, delete it") from None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a page killed without cleaning up
    except PermissionError:
        pass  # alive, but another user's
    return page


def sync_or_hand_over(paths: Sequence[Path], settings: Settings, progress=None) -> tuple[SyncReport, str | None]:
    """`sync` here, or in the page serving this index if there is one: (report, the page's URL or None). A Chroma
    server's index is written here: the server makes every write visible to every process."""
    page = None if settings.chroma_url else serving_page(settings.index_dir)
    if page is None:
        return sync(paths, settings, progress=progress), None
    import httpx

    url = page["url"]
    # the HTTP API's ingest: with RAG_AUTH its login, else the page's token
    token = page.get("token", "")
    login = {"auth": settings.auth_pair} if settings.auth_pair else {"headers": {"Authorization": f"Bearer {token}"}}
    try:
        response = httpx.post(url + "api/ingest", json={"paths": [os.path.abspath(p) for p in paths]},
                              timeout=httpx.Timeout(None, connect=10), **login)
    except httpx.HTTPError as e:
        raise IngestError(
            f"the page at {url} serves this index but cannot be reached ({e}); "
            f"if no page is running, delete {Path(settings.index_dir) / PAGE_FILE}"
        ) from None
    if response.status_code != 200:
        raise IngestError(f"the page at {url} did not take the ingest: {_reason(response)}")
    return SyncReport(**response.json()), url


def _reason(response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
