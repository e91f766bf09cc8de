"""Loaders: every supported format gives the right title, date, agency, text; bad files give clear reasons."""
from __future__ import annotations

import json

import pytest

from conftest import SEED
from ingest.loaders import LoadError, load_file, normalize_date


def test_seed_format_gives_date_title_agency_and_body():
    [a] = load_file(SEED, SEED.name).articles
    assert a.article_id == SEED.name
    assert a.date == "2025-07"
    assert a.title == "Kim traf Lawrow in der Küstenstadt Wonsan"
    assert a.agency == "APA/dpa/AFP"
    assert a.text.startswith("Nordkoreas Machthaber Kim Jong-un")
    assert "Von:" not in a.text and not a.text.startswith("date")
    assert a.source == str(SEED)


def test_headerless_txt_takes_first_line_as_title(tmp_path):
    p = tmp_path / "note.txt"
    p.write_text("Schneechaos in Tirol\n\nDer Verkehr stand still. Dr. Huber warnte.", encoding="utf-8")
    [a] = load_file(p, "note.txt").articles
    assert a.title == "Schneechaos in Tirol" and a.date == "" and "Dr. Huber" in a.text


def test_headerless_txt_with_long_first_line_takes_first_sentence(tmp_path):
    p = tmp_path / "long.txt"
    first = "Die Regierung hat am Montag ein umfangreiches Paket beschlossen, das " + "viele Maßnahmen " * 20 + "enthält."
    p.write_text(first + " Der zweite Satz folgt hier.", encoding="utf-8")
    [a] = load_file(p, "long.txt").articles
    assert a.title.startswith("Die Regierung hat am Montag") and "zweite Satz" not in a.title
    assert len(a.title) <= 202


def test_markdown_front_matter_and_heading(tmp_path):
    p = tmp_path / "a.md"
    p.write_text("---\ndate: 2024-03-05\nsource: Reuters\nurl: https://example.org/a\n---\n# Titel hier\n\nText.", "utf-8")
    [a] = load_file(p, "a.md").articles
    assert (a.title, a.date, a.agency, a.url) == ("Titel hier", "2024-03-05", "Reuters", "https://example.org/a")


def test_html_keeps_visible_text_only(tmp_path):
    p = tmp_path / "a.html"
    p.write_text(
        """<html><head><title>Hochwasser in Wien</title><meta property="article:published_time"
        content="2024-09-15T08:00:00Z"><style>.x{color:red}</style></head><body><nav>Menü</nav>
        <article><h1>Hochwasser</h1><p>Die Donau trat über die Ufer.</p><script>var secret = "SCRIPTTEXT";</script>
        </article></body></html>""",
        "utf-8",
    )
    [a] = load_file(p, "a.html").articles
    assert a.title == "Hochwasser in Wien" and a.date == "2024-09-15"
    assert "Die Donau trat über die Ufer." in a.text
    assert "SCRIPTTEXT" not in a.text and "color" not in a.text and "Menü" not in a.text


def test_json_and_jsonl_records(tmp_path):
    records = [
        {"id": "r1", "title": "Eins", "date": "2023-01-02", "source": "dpa", "url": "https://x/1", "text": "Erster Text."},
        {"title": "Zwei", "url": "https://x/2", "text": "Zweiter Text."},
        {"title": "Drei", "text": "Dritter Text."},
    ]
    (tmp_path / "a.json").write_text(json.dumps(records), "utf-8")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records), "utf-8")
    for name in ("a.json", "a.jsonl"):
        arts = load_file(tmp_path / name, name).articles
        assert [a.article_id for a in arts] == ["r1", "https://x/2", f"{name}#3"]
        assert (arts[0].date, arts[0].agency, arts[0].title) == ("2023-01-02", "dpa", "Eins")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"   \n\t\n", "empty"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "binary"),
    ],
)
def test_unreadable_files_raise_clear_reasons(tmp_path, content, reason):
    p = tmp_path / "bad.md"
    p.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(p, "bad.md")


def test_truncated_json_names_the_line(tmp_path):
    p = tmp_path / "cut.json"
    p.write_text('[{"title": "A", "text": "x"},\n {"title": "B", "te', "utf-8")
    with pytest.raises(LoadError, match="invalid JSON at line 2"):
        load_file(p, "cut.json")


def test_latin1_german_is_decoded(tmp_path):
    p = tmp_path / "alt.txt"
    p.write_bytes("Bürgermeister Müller eröffnet die Straße über den Fluss. Größere Änderungen folgen.".encode("latin-1"))
    [a] = load_file(p, "alt.txt").articles
    assert "Müller" in a.text and "Straße" in a.text


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.html", "a.json"])
def test_line_breaks_are_unified_and_invisible_characters_removed(tmp_path, name):
    body = "Nordkorea schickt 6.000 Pio\u00adniere nach Kursk.\r\n\r\n\u200b\r\n\r\n\u200eDas meldete KCNA.\ufeff"
    f = tmp_path / name
    if name.endswith(".html"):
        f.write_text("<html><head><title>Titel</title></head><body>" + "".join(f"<p>{p}</p>" for p in body.split("\r\n\r\n")) + "</body></html>", "utf-8")
    elif name.endswith(".json"):
        f.write_text(json.dumps({"title": "Tit\u200bel", "text": body}), "utf-8")
    else:
        f.write_text("Titel\r\n\r\n" + body, "utf-8", newline="")
    article = load_file(f, name).articles[0]
    assert article.text.endswith("Nordkorea schickt 6.000 Pioniere nach Kursk.\n\nDas meldete KCNA.")
    assert "\r" not in article.text and "\n\n\n" not in article.text and article.title == "Titel"


def test_unsupported_extension(tmp_path):
    p = tmp_path / "x.pdf"
    p.write_bytes(b"%PDF-1.4")
    with pytest.raises(LoadError, match="unsupported file type"):
        load_file(p, "x.pdf")


@pytest.mark.parametrize(
    ("raw", "iso"),
    [("2025-07", "2025-07"), ("2025", "2025"), ("13.07.2025", "2025-07-13"), ("2025-07-13T10:00:00Z", "2025-07-13"), ("bald", "")],
)
def test_normalize_date(raw, iso):
    assert normalize_date(raw) == iso


@pytest.mark.parametrize("raw", ["2025-13", "2025-00", "2025-02-30", "31.04.2025", "0000"])
def test_impossible_date_is_an_error_naming_it(raw):
    with pytest.raises(LoadError, match=f"impossible date '{raw}'"):
        normalize_date(raw)
    assert normalize_date("29.02.2024") == "2024-02-29"


def test_jsonl_bad_line_is_reported_and_good_lines_load(tmp_path):
    p = tmp_path / "mixed.jsonl"
    p.write_text('{"id": "a", "text": "Erster."}\n{"id": "b", "te\n{"id": "c", "text": "Dritter."}\n{"id": "d"}\n', "utf-8")
    loaded = load_file(p, "mixed.jsonl")
    assert [a.article_id for a in loaded.articles] == ["a", "c"]
    assert len(loaded.problems) == 2
    assert loaded.problems[0].startswith("line 2: invalid JSON") and loaded.problems[1] == "line 4: no 'text'"


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text("Wort " * 300_000, "utf-8")
    with pytest.raises(LoadError, match=r"1\.5 MB, over the limit of 1\.0 MB"):
        load_file(p, "big.txt", max_bytes=1_000_000)
