"""The value types that flow between the pipeline stages (load → chunk → embed → store → retrieve → answer)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal


# "APA/dpa/AFP", "Der Standard, APA", "Reuters & AP": the agencies a byline names ("und" is left alone: it is part
# of outlet names such as "Stadt und Land")
_BYLINE_SEPARATORS = re.compile(r"\s*[/,;&+]\s*")


def byline_agencies(byline: str) -> tuple[str, ...]:
    """Each source a byline names ("APA/dpa/AFP" → APA, dpa, AFP), in order, once."""
    return tuple(dict.fromkeys(name for name in _BYLINE_SEPARATORS.split(byline.strip()) if name))


def content_hash(text: str) -> str:
    """A stable fingerprint of an article's text (and nothing else), used to detect changes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """One news article as loaded from a file or a JSON record."""

    article_id: str
    title: str
    text: str
    source: str  # the file it came from
    date: str = ""  # ISO 8601, as precise as known ("2025-07", "2025-07-13"); "" when unknown
    agency: str = ""  # the byline ("APA/dpa/AFP") or the record's source field
    url: str = ""

    @cached_property  # compared for every chunk a search finds (is its version committed?)
    def content_hash(self) -> str:
        """Hash over everything that ends up in the index, so a changed title or date also re-indexes."""
        return content_hash("\x1f".join((self.title, self.date, self.agency, self.url, self.text)))

    @property
    def agencies(self) -> tuple[str, ...]:
        """Each source its byline names: a filter for dpa finds the copies signed "APA/dpa/AFP" too."""
        return byline_agencies(self.agency)

    @property
    def text_hash(self) -> str:
        """Hash of the body alone: the same story saved under two names has the same one."""
        return content_hash(self.text)


@dataclass(frozen=True)
class Chunk:
    """A passage of an article; `text == article.text[start:end]`."""

    chunk_id: str
    article_id: str
    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its article: `score` ranks (hybrid fusion, 0–1, moved by dates the question names),
    `similarity` is the cosine of the chunk's vector to the question's — for a question naming a period, to the
    closest of its wordings with and without the period's words (what the answerability gate looks at)."""

    chunk: Chunk
    article: Article
    score: float
    rank: int
    similarity: float = 0.0
    also: tuple[Article, ...] = ()  # near-duplicate copies of this story in other outlets ("also reported by")

    def to_json(self) -> dict:
        """The `search --json` shape of the fixed CLI contract."""
        return {
            "rank": self.rank,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "article_id": self.article.article_id,
            "source": self.article.source,
            "title": self.article.title,
            "date": self.article.date,
            "agency": self.article.agency,
            "url": self.article.url,
            "chunk_id": self.chunk.chunk_id,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "also_reported_by": [_brief(a) for a in self.also],
        }


def _brief(article: Article) -> dict:
    return {"article_id": article.article_id, "title": article.title, "date": article.date, "agency": article.agency,
            "source": article.source, "url": article.url}


@dataclass(frozen=True)
class Citation:
    """Source number `n` as shown in the answer, the hit it points to and the quoted words; `spans` are the article
    offsets of each quote: a sentence of an extractive answer, or each passage of an article that an LLM answer
    cites by several passages; none when one whole passage is cited."""

    n: int
    hit: Hit
    quote: str
    spans: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> dict:
        """The citation shape of `ask --json`."""
        a = self.hit.article
        return {
            "n": self.n,
            "article_id": a.article_id,
            "source": a.source,
            "title": a.title,
            "date": a.date,
            "agency": a.agency,
            "url": a.url,
            "quote": self.quote,
            "start": self.hit.chunk.start,
            "end": self.hit.chunk.end,
            "quotes": [{"text": self.hit.article.text[s:e], "start": s, "end": e} for s, e in self.spans],
            "also_reported_by": [_brief(a) for a in self.hit.also],
        }


Mode = Literal["llm", "extractive"]


@dataclass
class TokenUsage:
    """Tokens the language model server reported for the requests behind one answer (a follow-up's rewrite and the
    answer itself); zero when no model was used, or when the server reports none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, reported: object) -> None:
        """Count a server's `usage` object (OpenAI's shape; None when it sent none)."""
        self.prompt_tokens += getattr(reported, "prompt_tokens", 0) or 0
        self.completion_tokens += getattr(reported, "completion_tokens", 0) or 0

    def to_json(self) -> dict:
        """OpenAI's `usage` shape."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


@dataclass(frozen=True)
class Answer:
    """An answer (possibly still streaming) with the citations its `[n]` markers point to."""

    text: str
    answerable: bool
    mode: Mode
    citations: tuple[Citation, ...] = ()
    notice: str = ""  # one line for the user, e.g. why the LLM was not used
    done: bool = True
    hits: tuple[Hit, ...] = field(default=(), repr=False)  # what retrieval returned, cited or not
    usage: TokenUsage = field(default_factory=TokenUsage, compare=False)  # complete once `done`

    def to_json(self) -> dict:
        """The `ask --json` shape of the fixed CLI contract."""
        return {
            "answer": self.text,
            "answerable": self.answerable,
            "mode": self.mode,
            "citations": [c.to_json() for c in self.citations],
            "notice": self.notice,
        }
