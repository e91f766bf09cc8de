"""Which build of an index directory readers use: `<index>/active.json`.

An index directory holds one build (a pair of collections and a keyword file) per embedding model and chunking
settings. Ingest writes into the build for the configured settings. When those settings change, ingest rebuilds
from the paths the active build mirrors while readers keep using the active build; only when the new build is
complete does ingest replace `active.json` (an atomic rename), and readers switch at their next search.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.store import IndexUnavailable

ACTIVE_FILE = "active.json"


@dataclass(frozen=True)
class ActiveBuild:
    """The build readers use, the settings it was made with, and the files and folders it mirrors."""

    key: str
    embed_model: str
    chunk_tokens: int
    chunk_overlap_tokens: int
    roots: tuple[str, ...] = field(default=())


def read_active(index_dir: Path | str) -> ActiveBuild | None:
    """The active build, or None for an index made before builds were recorded (or no index at all)."""
    path = Path(index_dir) / ACTIVE_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
        return ActiveBuild(**{**data, "roots": tuple(data.get("roots", ()))})
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as e:
        raise IndexUnavailable(f"{path} is damaged ({e}); delete it and run `python -m ingest`") from None


def write_active(index_dir: Path | str, build: ActiveBuild) -> None:
    """Make `build` the active one; readers see the old or the new file, never a partial one."""
    path = Path(index_dir) / ACTIVE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(build), ensure_ascii=False, indent=1), "utf-8")
    os.replace(tmp, path)


def active_stamp(index_dir: Path | str) -> tuple[int, int] | None:
    """Changes whenever `active.json` is replaced (cheap enough to check on every search)."""
    try:
        st = os.stat(Path(index_dir) / ACTIVE_FILE)
        return st.st_ino, st.st_mtime_ns
    except FileNotFoundError:
        return None
