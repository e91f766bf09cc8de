"""Turn article files into `Article`s: one loader per format, chosen by file extension.

Every loader takes the file path and the `article_id` base (the path relative to the ingested folder) and returns
the articles in the file (`Loaded`). A file that cannot be used at all raises `LoadError` with a reason a user can
act on; a bad record in a JSON/JSONL file is reported in `Loaded.problems` while the good records load.
"""
from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rag.schema import Article


class LoadError(Exception):
    """A file that cannot be turned into articles; the message says why."""


@dataclass(frozen=True)
class Loaded:
    """The articles of one file, and the problems of records that could not be loaded (e.g. "line 3: …")."""

    articles: list[Article]
    problems: list[str] = field(default_factory=list)


MAX_TITLE_CHARS = 200
_SEED_HEADER = re.compile(r"^\s*date\s+(\d{4}(?:-\d{2}(?:-\d{2})?)?)\s+(.+?)\s*$")
_BYLINE = re.compile(r"^\s*Von:\s*(.+?)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-ZÄÖÜ„“\"'])")


_UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: FF FE starts both
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text(path: Path) -> str:
    """Decode a text file: UTF-8 (with or without BOM) first, else the encoding charset-normalizer detects."""
    data = path.read_bytes()
    if not data.strip():
        raise LoadError("empty file")
    for bom, codec in _UNICODE_BOMS:  # UTF-16/32 text is full of NUL bytes: recognized by its byte order mark
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as e:
                raise LoadError(f"invalid {codec.upper()} text at byte {e.start}") from None
    if b"\x00" in data[:8192]:
        raise LoadError("binary data, not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoadError("undecodable text (no encoding fits)")
    return str(best)


def normalize_date(value: object) -> str:
    """An ISO date as precise as the input ("2025", "2025-07", "2025-07-13"); "" if it is not a date. A date that
    cannot exist (month 13, 30 February) is a LoadError: the article's time would be wrong, not just unknown."""
    s = str(value or "").strip()
    if not s:
        return ""
    if m := re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", s):
        y, mo, d = m.groups()
        _check_exists(s, y, mo or 1, d or 1)
        return "-".join(p for p in m.groups() if p)
    if m := re.fullmatch(r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})", s):
        d, mo, y = m.groups()
        _check_exists(s, y, mo, d)
        return f"{y}-{int(mo):02d}-{int(d):02d}"
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return ""


def _check_exists(raw: str, year: str | int, month: str | int, day: str | int) -> None:
    try:
        datetime(int(year), int(month), int(day))
    except ValueError:
        raise LoadError(f"impossible date {raw!r}") from None


def first_sentence_title(text: str) -> str:
    """A title for headerless text: its first line if short, else its first sentence, cut at a word boundary."""
    first_line = text.strip().split("\n", 1)[0].strip()
    title = _SENTENCE_END.split(first_line, 1)[0] if len(first_line) > MAX_TITLE_CHARS else first_line
    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + " …"
    return title


def load_txt(path: Path, base_id: str) -> Loaded:
    """Plain text, either in the seed format (`date YYYY-MM Title`, blank line, `Von: …`, body) or headerless."""
    raw = read_text(path)
    lines = raw.splitlines()
    date, title, agency = "", "", ""
    if lines and (m := _SEED_HEADER.match(lines[0])):
        date, title = normalize_date(m.group(1)), m.group(2)
        rest = lines[1:]
        for i, line in enumerate(rest):
            if not line.strip():
                continue
            if b := _BYLINE.match(line):
                agency = b.group(1)
                rest = rest[i + 1 :]
            else:
                rest = rest[i:]
            break
        body = "\n".join(rest).strip()
    else:
        body = raw.strip()
        title = first_sentence_title(body)
    return Loaded([_article(base_id, title, body, path, date=date, agency=agency)])


def load_md(path: Path, base_id: str) -> Loaded:
    """Markdown: optional front matter (`title:`, `date:`, `source:`, `url:`), title from the first `#` heading."""
    raw = read_text(path).strip()
    meta: dict[str, str] = {}
    if raw.startswith("---\n") and (end := raw.find("\n---", 4)) > 0:
        for line in raw[4:end].splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip().strip("\"'")
        raw = raw[end + 4 :].strip()
    title = meta.get("title", "")
    if not title and (m := re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", raw, re.M)):
        title = m.group(1)
    return Loaded(
        [
            _article(
                base_id,
                title or first_sentence_title(raw),
                raw,
                path,
                date=normalize_date(meta.get("date")),
                agency=meta.get("source", meta.get("author", "")),
                url=meta.get("url", ""),
            )
        ]
    )


_HTML_DATE_META = (
    ("meta", {"property": "article:published_time"}),
    ("meta", {"name": "date"}),
    ("meta", {"name": "pubdate"}),
    ("meta", {"name": "dc.date"}),
    ("meta", {"itemprop": "datePublished"}),
)


def load_html(path: Path, base_id: str) -> Loaded:
    """HTML: the visible text only (no script, style or template), `<title>`, date and author metas when present."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(read_text(path), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    date = next(
        (d for name, attrs in _HTML_DATE_META if (t := soup.find(name, attrs=attrs)) and (d := normalize_date(t.get("content")))),
        "",
    )
    if not date and (t := soup.find("time", attrs={"datetime": True})):
        date = normalize_date(t["datetime"])
    author = soup.find("meta", attrs={"name": "author"})
    for tag in soup(["head", "script", "style", "noscript", "template", "iframe", "svg"]):
        tag.decompose()
    root = soup.find("article") or soup.body or soup
    if not title and (h1 := root.find("h1")):
        title = h1.get_text(" ", strip=True)
    lines = (line.strip() for line in root.get_text("\n").splitlines())
    text = "\n".join(lines).strip()
    if not text:
        raise LoadError("no visible text in the HTML")
    agency = author.get("content", "") if author else ""
    return Loaded([_article(base_id, title or first_sentence_title(text), text, path, date=date, agency=agency)])


def _records_to_articles(records: Iterator[tuple[str, object]], path: Path, base_id: str) -> Loaded:
    """Articles from (where, record) pairs; a bad record becomes a problem naming where it is."""
    loaded = Loaded([])
    for n, (where, rec) in enumerate(records, 1):
        if isinstance(rec, LoadError):
            loaded.problems.append(f"{where}: {rec}")
            continue
        if not isinstance(rec, dict):
            loaded.problems.append(f"{where}: expected a JSON object")
            continue
        text = str(rec.get("text") or "").strip()
        if not text:
            loaded.problems.append(f"{where}: no 'text'")
            continue
        try:
            date = normalize_date(rec.get("date"))
        except LoadError as e:
            loaded.problems.append(f"{where}: {e}")
            continue
        loaded.articles.append(
            _article(
                str(rec.get("id") or rec.get("url") or f"{base_id}#{n}"),
                str(rec.get("title") or "").strip() or first_sentence_title(text),
                text,
                path,
                date=date,
                agency=str(rec.get("source") or ""),
                url=str(rec.get("url") or ""),
            )
        )
    if not loaded.articles:  # the file failed as a whole: what it held before stays indexed
        if not loaded.problems:
            raise LoadError("no records")
        more = f" (and {len(loaded.problems) - 3} more)" if len(loaded.problems) > 3 else ""
        raise LoadError(f"no usable records: {'; '.join(loaded.problems[:3])}{more}")
    return loaded


def load_json(path: Path, base_id: str) -> Loaded:
    """A JSON object or a list of objects with `text` and optional `title`, `date`, `source`, `url`, `id`."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise LoadError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    records = data if isinstance(data, list) else [data]
    return _records_to_articles(((f"record {i}", r) for i, r in enumerate(records, 1)), path, base_id)


def load_jsonl(path: Path, base_id: str) -> Loaded:
    """One JSON record per line, the fields of `load_json`; a bad line is reported with its number."""

    def records() -> Iterator[tuple[str, object]]:
        for lineno, line in enumerate(read_text(path).splitlines(), 1):
            if line.strip():
                try:
                    yield f"line {lineno}", json.loads(line)
                except json.JSONDecodeError as e:
                    yield f"line {lineno}", LoadError(f"invalid JSON ({e.msg})")

    return _records_to_articles(records(), path, base_id)


# Line breaks of every system become "\n"; invisible characters (soft hyphens, zero-width spaces, byte order marks,
# direction marks) and control characters go: they split words for the keyword index ("Pio\xadniere") and a
# sentence splitter drops them, and nobody reads them.
_LINE_BREAK = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028]")
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\xad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    r"\ufeff\ufff9-\ufffb]"
)


def clean_text(text: str) -> str:
    """`text` with "\n" line breaks, one blank line at most between paragraphs, and no invisible characters."""
    text = _INVISIBLE.sub("", _LINE_BREAK.sub("\n", text).replace("\u2029", "\n\n"))
    return _BLANK_LINES.sub("\n\n", text)


def _article(article_id: str, title: str, text: str, path: Path, **meta: str) -> Article:
    text = clean_text(text).strip()
    if not text:
        raise LoadError("no article text")
    return Article(article_id=article_id, title=clean_text(title).strip(), text=text, source=str(path), **meta)


LOADERS: dict[str, Callable[[Path, str], Loaded]] = {
    ".txt": load_txt,
    ".md": load_md,
    ".markdown": load_md,
    ".html": load_html,
    ".htm": load_html,
    ".json": load_json,
    ".jsonl": load_jsonl,
}


def load_file(path: Path, base_id: str, max_bytes: int | None = None, suffix: str | None = None) -> Loaded:
    """Load one file with the loader for its extension (or `suffix`, for an upload stored under a temporary name);
    files over `max_bytes` are refused before reading."""
    suffix = (suffix or path.suffix).lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise LoadError(f"unsupported file type {suffix or '(none)'!r}; supported: {', '.join(LOADERS)}")
    if max_bytes is not None and (size := path.stat().st_size) > max_bytes:
        raise LoadError(
            f"file is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB (RAG_MAX_FILE_MB)"
        )
    return loader(path, base_id)
