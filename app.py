"""The Gradio chat page: `python app.py` serves it on 127.0.0.1:${RAG_PORT:-7860} over RAG_INDEX_DIR, mounted on
the HTTP API of rag.http_api (same process, same port).

Presentation only: everything it shows comes from `rag` (and uploads go through `ingest`). Article text is data:
every title, passage and article body is HTML-escaped before it reaches the page.
"""
from __future__ import annotations

import atexit
import html
import logging
import re
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag import Answer, Answerer, Settings, get_settings, prepare_environment
from rag.filters import SearchFilter
from rag.followup import message_text
from rag.schema import Citation
from rag.retriever import settings_key
from rag.store import IndexUnavailable

if TYPE_CHECKING:
    from ingest.uploads import UploadResult

prepare_environment()

import gradio as gr  # noqa: E402  (after analytics are switched off)

LABELS = {
    "de": {
        "title": "Nachrichten-Assistent",
        "mode_llm": "Modus: Sprachmodell ({model}) mit Quellenangaben",
        "mode_extractive": "Modus: extraktiv (kein Sprachmodell konfiguriert) – Antworten zitieren die Artikel wörtlich",
        "status": "{articles} Artikel, {chunks} Passagen · letzte Aktualisierung: {updated} · Einbettungsmodell: {model}",
        "stale_model": "Konfiguriert ist {configured}; der Index wird bis zum Abschluss eines Neuaufbaus "
        "(`python -m ingest`) mit {model} durchsucht.",
        "stale_build": "Der Index stammt von anderen Chunk-Einstellungen oder einer älteren Version; "
        "`python -m ingest` baut ihn neu auf, bis dahin wird er weiter durchsucht.",
        "never": "unbekannt",
        "sources": "Quellen",
        "undated": "ohne Datum",
        "placeholder": "Frage zu den Artikeln stellen …",
        "filters": "Filter",
        "date_from": "Von (JJJJ-MM-TT)",
        "date_to": "Bis (JJJJ-MM-TT)",
        "agencies": "Quelle",
        "open_article": "Ganzen Artikel öffnen",
        "no_sources": "Die Quellen der Antwort erscheinen hier.",
        "upload": "Artikel hochladen (.txt, .md, .html, .json, .jsonl)",
        "upload_button": "Hochladen und indexieren",
        "uploaded": "{n} Datei(en) gespeichert und indexiert ({added} neu, {updated} aktualisiert).",
        "rejected": "Nicht indexiert: {name} – {reason}",
        "copy_of": "derselbe Text wie {other}, schon im Index",
        "bad_filter": "Ungültiger Filter: {error}",
        "example": "Was berichten die Artikel über „{title}“?",
        "examples": "Beispielfragen",
        "also": "Auch berichtet von: {outlets}",
    },
    "en": {
        "title": "News assistant",
        "mode_llm": "Mode: language model ({model}) with citations",
        "mode_extractive": "Mode: extractive (no language model configured) – answers quote the articles verbatim",
        "status": "{articles} articles, {chunks} passages · last update: {updated} · embedding model: {model}",
        "stale_model": "{configured} is configured; the index is searched with {model} until a rebuild "
        "(`python -m ingest`) is complete.",
        "stale_build": "The index was made with other chunking settings or by an older version; `python -m ingest` "
        "rebuilds it, and it is searched as it is until then.",
        "never": "unknown",
        "sources": "Sources",
        "undated": "undated",
        "placeholder": "Ask about the articles …",
        "filters": "Filters",
        "date_from": "From (YYYY-MM-DD)",
        "date_to": "To (YYYY-MM-DD)",
        "agencies": "Source",
        "open_article": "Open the whole article",
        "no_sources": "The sources of an answer appear here.",
        "upload": "Upload articles (.txt, .md, .html, .json, .jsonl)",
        "upload_button": "Upload and index",
        "uploaded": "{n} file(s) saved and indexed ({added} new, {updated} updated).",
        "rejected": "Not indexed: {name} – {reason}",
        "copy_of": "the same text as {other}, already indexed",
        "bad_filter": "Invalid filter: {error}",
        "example": "What do the articles report about “{title}”?",
        "examples": "Example questions",
        "also": "Also reported by: {outlets}",
    },
}

STATUS_REFRESH_SECONDS = 10
CHAT_CONCURRENCY = 8

CSS = """
#sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; margin-bottom: 8px; }
#sources .source.active { outline: 3px solid var(--color-accent); }
#sources mark { background: #ffe58a; color: inherit; }
#sources .article { white-space: pre-wrap; max-height: 420px; overflow-y: auto; }
@media (max-width: 720px) { #layout { flex-direction: column; } #layout > .column { min-width: 0 !important; } }
"""

# Our own script (article content never runs): a click on a citation [n] in the chat shows source n.
HEAD = """<script>
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href^="#src-"]');
  if (!link) return;
  event.preventDefault();
  const target = document.getElementById(link.getAttribute('href').slice(1));
  if (!target) return;
  document.querySelectorAll('#sources .source.active').forEach((el) => el.classList.remove('active'));
  target.classList.add('active');
  target.scrollIntoView({behavior: 'smooth', block: 'center'});
}, true);
</script>"""


def esc(text: str) -> str:
    """Article or model text as inert HTML and inert Markdown: brackets become character references, which Markdown
    shows as text and never reads as link or image syntax (an image would be fetched without a click, carrying
    whatever an injected instruction put in its address)."""
    return html.escape(text, quote=True).replace("[", "&#91;").replace("]", "&#93;")


def format_answer(answer: Answer, labels: dict) -> str:
    """The answer as Markdown: a notice, the text with each [n] linked to its source, then the numbered sources."""
    parts = [f"*{esc(answer.notice)}*"] if answer.notice else []
    known = {c.n for c in answer.citations}
    text = re.sub(r"&#91;(\d+)&#93;", lambda m: f"[[{m[1]}]](#src-{m[1]})" if int(m[1]) in known else m[0], esc(answer.text))
    parts.append(text.replace("\n", "  \n"))
    if answer.citations and answer.done:
        lines = [f"**{labels['sources']}**"]
        for c in answer.citations:
            a = c.hit.article
            meta = " · ".join(esc(x) for x in (a.date or labels["undated"], a.agency, Path(a.source).name) if x)
            quote = c.quote if len(c.quote) <= 400 else c.quote[:400].rsplit(" ", 1)[0] + " …"
            also = f"  \n*{also_reported(c, labels)}*" if c.hit.also else ""
            lines.append(f"[{c.n}] **{esc(a.title)}** — {meta}{also}  \n> {esc(quote)}")
        parts.append("\n\n".join(lines))
    return "\n\n".join(parts)


def also_reported(citation: Citation, labels: dict) -> str:
    """The other outlets that ran this story (its near-duplicate copies), escaped: "Auch berichtet von: Die
    Presse/dpa (2025-09-02), …"."""
    outlets = ", ".join(
        (a.agency or a.title or Path(a.source).name) + (f" ({a.date})" if a.date else "") for a in citation.hit.also
    )
    return esc(labels["also"].format(outlets=outlets))


def quote_spans(citation: Citation) -> list[tuple[int, int]]:
    """Where the quoted words sit in the article: each quoted sentence (which may lie in another passage of the
    article than the cited one) or each part a language model was given, else the whole passage."""
    return sorted(citation.spans) or [(citation.hit.chunk.start, citation.hit.chunk.end)]


def marked(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """text[start:end], escaped, with the spans wrapped in <mark>."""
    end = len(text) if end is None else end
    out, pos = [], start
    for s, e in spans:
        s, e = max(s, pos), min(e, end)
        if s >= e:
            continue
        out += [esc(text[pos:s]), "<mark>", esc(text[s:e]), "</mark>"]
        pos = e
    out.append(esc(text[pos:end]))
    return "".join(out)


def sources_html(answer: Answer | None, labels: dict) -> str:
    """The sources panel: per citation its article, the passage in context with the quote marked, and the whole
    article (with the quote marked) behind a disclosure."""
    if answer is None or not answer.citations:
        return f"<p class='empty'>{esc(labels['no_sources'])}</p>"
    blocks = []
    for c in answer.citations:
        a = c.hit.article
        spans = quote_spans(c)
        lo = max(0, spans[0][0] - 300)
        hi = min(len(a.text), spans[-1][1] + 300)
        context = ("… " if lo else "") + marked(a.text, spans, lo, hi) + (" …" if hi < len(a.text) else "")
        meta = " · ".join(esc(x) for x in (a.date or labels["undated"], a.agency) if x)
        also = f"<br><small class='also'>{also_reported(c, labels)}</small>" if c.hit.also else ""
        blocks.append(
            f"<div class='source' id='src-{c.n}'><div><b>[{c.n}] {esc(a.title)}</b><br><small>{meta}</small>{also}</div>"
            f"<p class='passage'>{context}</p>"
            f"<details id='article-{c.n}'><summary>{esc(labels['open_article'])}</summary>"
            f"<div class='article'>{marked(a.text, spans)}</div></details></div>"
        )
    return "\n".join(blocks)


def status_text(answerer: Answerer, labels: dict) -> str:
    """Index size, last update, model and answering mode."""
    s = answerer.settings
    mode = labels["mode_llm"].format(model=esc(s.llm_model)) if s.llm_enabled else labels["mode_extractive"]
    try:
        store, served = answerer.retriever.store, answerer.retriever.serving.embed_model
        articles, chunks = store.counts()
        updated = readable_time(store.last_update()) or labels["never"]
        index = labels["status"].format(articles=articles, chunks=chunks, updated=updated, model=esc(served))
        if served != s.embed_model:
            index += "  \n" + labels["stale_model"].format(configured=esc(s.embed_model), model=esc(served))
        elif store.key != settings_key(s):
            index += "  \n" + labels["stale_build"]
    except IndexUnavailable as e:
        index = esc(str(e))
    return f"{mode}  \n{index}"


def readable_time(iso: str) -> str:
    """"2026-12-02 12:11 UTC" for an ISO time in UTC ("" stays "")."""
    try:
        return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def example_questions(answerer: Answerer, labels: dict, n: int = 3) -> list[str]:
    """Questions about the newest articles in the index."""
    try:
        manifest = answerer.retriever.store.manifest()
    except IndexUnavailable:
        return []
    newest = sorted(manifest.values(), key=lambda m: m.get("date", ""), reverse=True)
    return [labels["example"].format(title=m["title"]) for m in newest[:n] if m.get("title")]


def describe_upload(result: UploadResult, labels: dict[str, str]) -> str:
    """What became of an upload: saved and indexed, then every file, record or copy left out and why."""
    lines = []
    if r := result.report:
        lines.append(labels["uploaded"].format(n=len(result.saved), added=r.added, updated=r.updated))
    left_out = [(x["name"], x["reason"]) for x in result.rejected]
    if r:
        left_out += [(Path(x["path"]).name, x["reason"]) for x in r.skipped]
        left_out += [(Path(x["path"]).name, labels["copy_of"].format(other=x["same_as"])) for x in r.duplicates]
    lines += [labels["rejected"].format(name=esc(name), reason=esc(reason)) for name, reason in left_out]
    return "  \n".join(lines)


def build_app(answerer: Answerer | None = None, language: str | None = None) -> gr.Blocks:
    """The page, wired to `answerer` (default: the configured index and model)."""
    answerer = answerer or Answerer()
    settings = answerer.settings
    labels = LABELS.get(language or settings.ui_language, LABELS["de"])

    def agencies() -> list[str]:
        try:
            return answerer.retriever.store.agencies()
        except IndexUnavailable:
            return []

    def respond(message: str, history: list, date_from: str, date_to: str, sources: list[str] | None):
        # Gradio keeps a turn's text as a string at first and as a list of parts once the chat has rendered it
        previous = [text for m in history if m.get("role") == "user" and (text := message_text(m.get("content"))).strip()]
        try:
            filters = SearchFilter((date_from or "").strip(), (date_to or "").strip(), tuple(sources or ()))
        except ValueError as e:
            yield labels["bad_filter"].format(error=esc(str(e))), sources_html(None, labels)
            return
        try:
            answer = None
            for answer in answerer.stream(message, previous, filters):
                yield format_answer(answer, labels), sources_html(answer if answer.done else None, labels)
        except IndexUnavailable as e:
            yield esc(str(e)), sources_html(None, labels)

    def upload(files: list[str] | None):
        from ingest.uploads import save_and_index

        pairs = [(Path(f).name, Path(f)) for f in files or []]
        result = save_and_index(pairs, settings)
        return describe_upload(result, labels), status_text(answerer, labels), gr.update(choices=agencies()), None

    def search(query: str, k: int = 5) -> list[dict]:
        """The passages that best match `query` (the `rag search --json` shape)."""
        return [h.to_json() for h in answerer.retriever.search(query, k=int(k))]

    def article(article_id: str) -> dict:
        """One indexed article: its metadata and whole text."""
        found = answerer.retriever.store.get_articles([article_id]).get(article_id)
        if found is None:
            return {"error": f"no article {article_id!r}"}
        return {"article_id": found.article_id, "title": found.title, "date": found.date, "agency": found.agency,
                "source": found.source, "url": found.url, "text": found.text}

    with gr.Blocks(title=labels["title"]) as demo:
        gr.Markdown(f"## {esc(labels['title'])}")
        status = gr.Markdown(status_text(answerer, labels), elem_id="status")
        with gr.Row(elem_id="layout", equal_height=False):
            with gr.Column(scale=3, min_width=300):
                with gr.Accordion(labels["filters"], open=False):
                    with gr.Row():
                        date_from = gr.Textbox("", label=labels["date_from"], elem_id="date-from", min_width=140)
                        date_to = gr.Textbox("", label=labels["date_to"], elem_id="date-to", min_width=140)
                    source_filter = gr.Dropdown(
                        choices=agencies(), value=[], multiselect=True, label=labels["agencies"], elem_id="agency-filter"
                    )
                sources = gr.HTML(sources_html(None, labels), elem_id="sources", render=False)
                examples = example_questions(answerer, labels)
                gr.ChatInterface(
                    respond,
                    api_name="chat",
                    # several readers at once: with an LLM most of an answer's time is waiting on the server
                    concurrency_limit=CHAT_CONCURRENCY,
                    chatbot=gr.Chatbot(elem_id="chat", sanitize_html=True, height=520, label=labels["title"]),
                    textbox=gr.Textbox(placeholder=labels["placeholder"], submit_btn=True, elem_id="question"),
                    additional_inputs=[date_from, date_to, source_filter],
                    additional_outputs=[sources],
                    # None for the filters: Gradio then shows the examples as buttons in the chat, using the current filters.
                    examples=[[q, None, None, None] for q in examples] or None,
                    examples_label=labels["examples"],
                    run_examples_on_click=True,
                    cache_examples=False,
                )
            with gr.Column(scale=2, min_width=280):
                gr.Markdown(f"**{esc(labels['sources'])}**")
                sources.render()
                files = gr.File(label=labels["upload"], file_count="multiple", elem_id="upload",
                                file_types=[".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"])
                upload_button = gr.Button(labels["upload_button"], elem_id="upload-button")
                upload_message = gr.Markdown(elem_id="upload-message")
        upload_button.click(upload, files, [upload_message, status, source_filter, files], api_name="upload")
        # Articles also arrive from the watched folder or another process's ingest: keep the count current, from the
        # moment the page opens (what the page was built with may be hours old).
        demo.load(lambda: (status_text(answerer, labels), gr.update(choices=agencies())), None, [status, source_filter],
                  api_visibility="private")
        gr.Timer(STATUS_REFRESH_SECONDS).tick(lambda: status_text(answerer, labels), None, status, api_visibility="private")
        gr.api(search, api_name="search")
        gr.api(article, api_name="article")
    return demo


# An open page's event stream (Gradio's heartbeat) never ends by itself: without a limit, a stop (Ctrl-C, or SIGTERM
# from docker or systemd) would wait for every browser tab to be closed.
GRACEFUL_SHUTDOWN_S = 5


@dataclass
class Served:
    """A page being served in a background thread (see `launch`)."""

    url: str
    server: object  # uvicorn.Server
    thread: threading.Thread

    def close(self) -> None:
        """Stop serving now, without waiting for open event streams."""
        self.server.should_exit = self.server.force_exit = True
        self.thread.join(timeout=30)


def _quiet_server(app, host: str, port: int):
    """A uvicorn server that ends open event streams within `GRACEFUL_SHUTDOWN_S` when it stops, and does not log
    their cancellation: it is expected, not an error."""
    import uvicorn

    errors = logging.getLogger("uvicorn.error")

    class QuietServer(uvicorn.Server):
        def run(self, sockets=None) -> None:
            level = errors.level
            try:
                super().run(sockets)
            finally:  # streams left open are cancelled when the event loop closes, after `shutdown`
                errors.setLevel(level)

        async def shutdown(self, sockets=None) -> None:
            errors.setLevel(logging.CRITICAL)
            await super().shutdown(sockets)

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    return QuietServer(config)


def launch(answerer: Answerer, port: int | None = None, block: bool = True) -> Served | None:
    """Serve the HTTP API (rag.http_api) with the page mounted on it, on the configured loopback address (and port,
    unless given). While it runs, the page is a local index's writer: it announces itself so that `python -m ingest`
    elsewhere hands its work over (a Chroma server needs no such hand-over). `block=False` serves in a background
    thread and returns at once."""
    from ingest.via_page import announce, withdraw
    from rag.http_api import build_api

    s = answerer.settings
    token = secrets.token_urlsafe(24)
    demo = build_app(answerer)
    app = gr.mount_gradio_app(
        build_api(answerer, s.auth_pair, ingest_token=token), demo, path="/", auth=s.auth_pair, css=CSS, head=HEAD,
        max_file_size=f"{s.max_file_mb:g}mb", footer_links=["api"],
    )
    if s.watch:
        from ingest.watch import start_watching

        # a daemon thread: it ends with the server process
        start_watching(Path(s.corpus_dir), s, log=lambda line: print(line, file=sys.stderr, flush=True))
    port = port or s.port
    server = _quiet_server(app, s.host, port)
    host = "127.0.0.1" if s.host in ("0.0.0.0", "127.0.0.1", "localhost") else s.host
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    announce_page = not s.chroma_url
    if block:
        # uvicorn shuts down on SIGTERM, then raises it again: ended like Ctrl-C, the announcement is withdrawn
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            if announce_page:
                announce(s.index_dir, url, token)
            print(f"serving on {url} (API: {url}api/docs)", file=sys.stderr, flush=True)
            server.run()  # in the main thread: Ctrl-C stops it (uvicorn shuts down, then re-raises it)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if announce_page:
                withdraw(s.index_dir)
        return None
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise OSError(f"cannot serve on {s.host}:{port} (in use?)")
        time.sleep(0.05)
    if announce_page:
        announce(s.index_dir, url, token)
        atexit.register(withdraw, s.index_dir)
    return Served(url, server, thread)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(settings: Settings | None = None) -> None:
    """Serve the page for the configured index."""
    launch(Answerer(settings=settings or get_settings()))


if __name__ == "__main__":
    main()
