"""Article files uploaded from the page: checked like any ingested file, saved into the corpus folder, indexed."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders import LoadError, load_file
from ingest.sync import SyncReport, sync
from rag.config import Settings


@dataclass
class UploadResult:
    """Which uploads were saved and indexed, and which were rejected (name and reason)."""

    saved: list[Path] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # [{"name", "reason"}]
    report: SyncReport | None = None


def safe_name(name: str) -> str:
    """The file name to save under: the last path component only, so `../../etc/passwd` or an absolute path can
    never leave the corpus folder; raises ValueError for names that are empty or hidden after that."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base.startswith(".") or "\x00" in base:
        raise ValueError("not a usable file name")
    return base


def save_and_index(uploads: list[tuple[str, Path]], settings: Settings) -> UploadResult:
    """Validate each (original name, temporary file) upload, copy the good ones into the corpus folder and index
    them. A rejected file never reaches the corpus folder."""
    result = UploadResult()
    corpus = Path(settings.corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    max_bytes = int(settings.max_file_mb * 1_000_000)
    for original, tmp in uploads:
        try:
            name = safe_name(original)
            load_file(Path(tmp), name, max_bytes, Path(name).suffix)  # parsed before saving: only usable files are kept
        except (ValueError, LoadError, OSError) as e:
            result.rejected.append({"name": original, "reason": str(e)})
            continue
        target = corpus / name
        shutil.copyfile(tmp, target)
        result.saved.append(target)
    if result.saved:
        result.report = sync(result.saved, settings)
    return result
