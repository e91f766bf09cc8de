"""Which build of an index readers use: `active.json` in the index directory (or in a Chroma server's state).

An index holds one build (a pair of collections and a keyword file) per embedding model and chunking settings.
Ingest writes into the build for the configured settings. When those settings change, ingest rebuilds from the paths
the active build mirrors while readers keep using the active build; only when the new build is complete does ingest
replace `active.json` (an atomic rename, or one metadata update on a server), and readers switch at their next search.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from rag.store import Database, IndexUnavailable

ACTIVE_FILE = "active.json"


@dataclass(frozen=True)
class ActiveBuild:
    """The build readers use, the settings it was made with, and the files and folders it mirrors."""

    key: str
    embed_model: str
    chunk_tokens: int
    chunk_overlap_tokens: int
    roots: tuple[str, ...] = field(default=())


def read_active(db: Database) -> ActiveBuild | None:
    """The active build, or None for an index made before builds were recorded (or no index at all)."""
    text = db.read(ACTIVE_FILE)
    if text is None:
        return None
    try:
        data = json.loads(text)
        return ActiveBuild(**{**data, "roots": tuple(data.get("roots", ()))})
    except (ValueError, TypeError) as e:
        raise IndexUnavailable(f"{ACTIVE_FILE} in {db.where} is damaged ({e}); delete it and run `python -m ingest`") from None


def write_active(db: Database, build: ActiveBuild) -> None:
    """Make `build` the active one; readers see the old or the new value, never a partial one."""
    db.write(ACTIVE_FILE, json.dumps(asdict(build), ensure_ascii=False, indent=1))


def active_stamp(db: Database) -> object:
    """Changes whenever the active build is replaced (cheap enough to check on every search)."""
    return db.stamp(ACTIVE_FILE)
