"""The HTTP API for other programs, served by the page's process (the Gradio page is mounted on it, see app.py):

- `GET /api/search?q=&k=` — the passages, in the shape of `rag search --json`
- `POST /api/ask` — an answer with citations, in the shape of `rag ask --json`
- `POST /api/ingest` — index files or folders of the server's machine, like `python -m ingest`
- `POST /v1/chat/completions` — OpenAI-compatible (plain and streamed), so any OpenAI client or chat UI can talk to
  the assistant; the citations come in an extra `citations` field of the completion (of the last chunk when
  streamed), each as in `ask --json`
- `GET /v1/models` — the one model name, for clients that list models first

With `RAG_AUTH=user:password` every endpoint needs that login (HTTP Basic) or the password as a bearer token (what
an OpenAI client sends as its API key). Without it, `/api/ingest` needs the page's token as a bearer token: the one
in `<index>/page.json`, which only the user running the page can read (the page indexes any file that user can read,
and `/api/search` would then show it to anyone).
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.answer import Answerer
from rag.filters import SearchFilter
from rag.followup import message_text
from rag.schema import Answer, TokenUsage
from rag.store import IndexUnavailable

log = logging.getLogger(__name__)

MODEL_NAME = "newsrag"


class ArticleRef(BaseModel):
    """An article: which, from where, when, by whom."""

    article_id: str
    title: str
    date: str
    agency: str
    source: str
    url: str


class Passage(ArticleRef):
    """A passage of an article: its text (or the quoted words) and where it sits in the article."""

    start: int
    end: int
    also_reported_by: list[ArticleRef]


class HitOut(Passage):
    """A passage as `rag search --json` prints it."""

    rank: int
    score: float
    similarity: float
    chunk_id: str
    text: str


class QuoteOut(BaseModel):
    """A quoted sentence and its character offsets in the article."""

    text: str
    start: int
    end: int


class CitationOut(Passage):
    """What `[n]` in an answer points to."""

    n: int
    quote: str
    quotes: list[QuoteOut] = Field(
        description="Each quoted sentence (quoting mode), or each passage when a model's answer cites an article it "
        "was given in several passages; empty when one whole passage is cited."
    )


class AnswerOut(BaseModel):
    """An answer as `rag ask --json` prints it."""

    answer: str
    answerable: bool
    mode: str
    citations: list[CitationOut]
    notice: str


class AskIn(BaseModel):
    question: str = Field(min_length=1)
    previous: list[str] = Field(default=[], description="Earlier questions of the conversation, oldest first.")
    date_from: str = Field(default="", description="YYYY, YYYY-MM or YYYY-MM-DD")
    date_to: str = ""
    agencies: list[str] = Field(default=[], description='Only articles whose byline names one of these ("dpa" '
                                "matches \"APA/dpa/AFP\").")


class IngestIn(BaseModel):
    paths: list[str] = Field(min_length=1, description="Files or folders on the server's machine.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatIn(BaseModel):
    """An OpenAI chat-completions request; sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = MODEL_NAME
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None


class ChatChoice(BaseModel):
    index: int
    message: dict
    finish_reason: str


class ChatOut(BaseModel):
    """An OpenAI chat completion, plus `citations` (what each `[n]` in the content points to), `answerable` and
    `notice` (e.g. why the language model was not used)."""

    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict
    citations: list[CitationOut]
    answerable: bool
    notice: str


def build_api(answerer: Answerer, auth: tuple[str, str] | None = None, ingest_token: str = "") -> FastAPI:
    """The API over `answerer`; `auth`: the (user, password) every request must carry, or None."""
    api = FastAPI(title="newsrag", description=__doc__, version="0.1.0", docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None)
    guard = Depends(_guard(auth))

    # Under /v1/ errors take OpenAI's shape, which OpenAI clients read their error message from; elsewhere FastAPI's.
    @api.exception_handler(IndexUnavailable)
    def _no_index(request: Request, e: IndexUnavailable) -> JSONResponse:
        return _openai_error(503, str(e)) if _openai(request) else JSONResponse({"detail": str(e)}, status_code=503)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        if _openai(request):
            return _openai_error(e.status_code, str(e.detail), e.headers)
        return await http_exception_handler(request, e)

    @api.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, e: RequestValidationError):
        if _openai(request):
            first = (e.errors() or [{}])[0]
            where = ".".join(str(part) for part in first.get("loc", ())[1:])
            return _openai_error(422, f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request")
        return await request_validation_exception_handler(request, e)

    @api.get("/api/search", dependencies=[guard], response_model=list[HitOut])
    def search(q: str = Query(min_length=1), k: int = Query(5, ge=1, le=50)) -> list[dict]:
        """The `k` passages that best match `q`, best first."""
        return [h.to_json() for h in answerer.retriever.search(q, k=k)]

    @api.post("/api/ask", dependencies=[guard], response_model=AnswerOut)
    def ask(body: AskIn) -> dict:
        """An answer from the indexed articles with citations, or a refusal (`answerable: false`)."""
        try:
            filters = SearchFilter(body.date_from, body.date_to, tuple(body.agencies))
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return answerer.answer(body.question, body.previous, filters).to_json()

    @api.post("/api/ingest", dependencies=[guard])
    def ingest(body: IngestIn, request: Request) -> dict:
        """Bring the index in line with these files and folders; the `python -m ingest --json` summary."""
        from ingest.sync import IngestError, sync

        if auth is None and not same_secret(_bearer(request), ingest_token):
            raise HTTPException(403, "ingest over HTTP needs RAG_AUTH, or the page's token from <index>/page.json "
                                     "as 'Authorization: Bearer <token>'")
        try:
            return sync([Path(p) for p in body.paths], answerer.settings).to_json()
        except IngestError as e:
            raise HTTPException(409, str(e)) from None

    @api.get("/v1/models", dependencies=[guard])
    def models() -> dict:
        """The assistant as the one model of this OpenAI-compatible server."""
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "newsrag"}]}

    @api.post("/v1/chat/completions", dependencies=[guard], response_model=ChatOut)
    def chat(body: ChatIn):
        """The last user message is the question; earlier user messages are the conversation it follows."""
        asked = [text for m in body.messages if m.role == "user" and (text := message_text(m.content)).strip()]
        if not asked:
            raise HTTPException(422, "no user message with text")
        question, previous = asked[-1], asked[:-1]
        meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
        if body.stream:
            answers = answerer.stream(question, previous)
            first = next(answers)  # before the headers go out: a missing index is a 503, as for the plain reply
            usage = bool(body.stream_options and body.stream_options.include_usage)
            events = _sse(itertools.chain([first], answers), meta, usage)
            return StreamingResponse(events, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        answer = answerer.answer(question, previous)
        return {**meta, "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
                "usage": answer.usage.to_json(), **_extra(answer)}

    return api


def _extra(answer: Answer) -> dict:
    return {"citations": [c.to_json() for c in answer.citations], "answerable": answer.answerable, "notice": answer.notice}


def _sse(answers: Iterator[Answer], meta: dict, include_usage: bool = False) -> Iterator[str]:
    """Server-sent events of `chat.completion.chunk`s: each snapshot's new text as a delta, the citations with the
    last one. Snapshots grow, so the deltas add up to the final answer, unless the language model fails mid-answer
    (or ends it with "not in the sources"): a stream cannot take text back, so it goes on after a blank line with
    the answer that replaces it, in full and its notice first. `include_usage`: a last chunk with no choices gives
    the tokens used, as OpenAI's `stream_options` asks."""
    def event(delta: dict | None, finish: str | None = None, extra: dict | None = None) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        chunk = {**meta, "object": "chat.completion.chunk", "choices": choices, **(extra or {})}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    sent, last = "", None
    try:
        for last in answers:
            restart = "\n\n" + "\n".join(p for p in (last.notice, last.text) if p)
            new = last.text[len(sent):] if last.text.startswith(sent) else restart
            sent = last.text
            if new:
                yield event({"content": new})
    except Exception as e:  # the headers are out: the stream can only end, saying why
        if not isinstance(e, IndexUnavailable):
            log.exception("streamed answer failed")
        yield event({"content": ("\n\n" if sent else "") + (str(e) or type(e).__name__)}, "stop")
    else:
        yield event({}, "stop", _extra(last) if last else None)
    if include_usage:
        yield event(None, extra={"usage": (last.usage if last else TokenUsage()).to_json()})
    yield "data: [DONE]\n\n"


def _guard(auth: tuple[str, str] | None):
    def check(request: Request) -> None:
        if auth is None:
            return
        if same_secret(_bearer(request), auth[1]):
            return
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if same_secret(user, auth[0]) and same_secret(password, auth[1]):
                return
        raise HTTPException(401, "login required (RAG_AUTH)", headers={"WWW-Authenticate": "Basic"})

    return check


def _openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def _openai_error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """OpenAI's error reply: `{"error": {"message", "type", "param", "code"}}`."""
    kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error")
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}},
                        status_code=status, headers=headers)


def _bearer(request: Request) -> str:
    """The request's bearer token, or ""."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value if scheme.lower() == "bearer" else ""


def same_secret(given: str, secret: str) -> bool:
    """`given == secret` in constant time; an empty secret matches nothing."""
    return bool(secret) and secrets.compare_digest(given.encode(), secret.encode())
