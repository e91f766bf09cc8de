"""The Gradio chat page: `python app.py` serves it on 127.0.0.1:${RAG_PORT:-7860} over RAG_INDEX_DIR.

Presentation only: everything it shows comes from `rag`; article text is escaped before it reaches the page.
"""
from __future__ import annotations

import html
from pathlib import Path
from collections.abc import Iterator

from rag import Answer, Answerer, Settings, get_settings, prepare_environment
from rag.store import IndexUnavailable

prepare_environment()

import gradio as gr  # noqa: E402  (after analytics are switched off)

LABELS = {
    "title": "Nachrichten-Assistent",
    "mode_llm": "Modus: Sprachmodell ({model}) mit Quellenangaben",
    "mode_extractive": "Modus: extraktiv (kein Sprachmodell konfiguriert) – Antworten zitieren die Artikel wörtlich",
    "status": "{articles} Artikel, {chunks} Passagen · Einbettungsmodell: {model}",
    "sources": "Quellen",
    "undated": "ohne Datum",
    "placeholder": "Frage zu den Artikeln stellen …",
}


def format_answer(answer: Answer) -> str:
    """The answer as Markdown: the text, an optional notice, then its numbered sources with the quoted passage."""
    parts = []
    if answer.notice:
        parts.append(f"*{_escape(answer.notice)}*")
    parts.append(_escape(answer.text).replace("\n", "  \n"))
    if answer.citations and answer.done:
        lines = [f"**{LABELS['sources']}**"]
        for c in answer.citations:
            a = c.hit.article
            meta = " · ".join(_escape(x) for x in (a.date or LABELS["undated"], a.agency, Path(a.source).name) if x)
            quote = _escape(c.quote if len(c.quote) <= 400 else c.quote[:400].rsplit(" ", 1)[0] + " …")
            lines.append(f"[{c.n}] **{_escape(a.title)}** — {meta}  \n> {quote}")
        parts.append("\n\n".join(lines))
    return "\n\n".join(parts)


def _escape(text: str) -> str:
    # Article text is data: no HTML from it may reach the page, and no Markdown link either.
    return html.escape(text, quote=True).replace("](", "]&#40;")


def status_text(answerer: Answerer) -> str:
    """One line on the index and the answering mode."""
    s = answerer.settings
    mode = LABELS["mode_llm"].format(model=s.llm_model) if s.llm_enabled else LABELS["mode_extractive"]
    try:
        articles, chunks = answerer.retriever.store.counts()
        index = LABELS["status"].format(articles=articles, chunks=chunks, model=s.embed_model)
    except IndexUnavailable as e:
        index = str(e)
    return f"{mode}  \n{index}"


def build_app(answerer: Answerer | None = None) -> gr.Blocks:
    """The page, wired to `answerer` (default: the configured index and model)."""
    answerer = answerer or Answerer()

    def chat(message: str, history: list) -> Iterator[str]:
        try:
            for answer in answerer.stream(message):
                yield format_answer(answer)
        except IndexUnavailable as e:
            yield str(e)

    with gr.Blocks(title=LABELS["title"]) as demo:
        gr.Markdown(f"## {LABELS['title']}")
        gr.Markdown(status_text(answerer), elem_id="status")
        gr.ChatInterface(
            chat,
            api_name="chat",
            textbox=gr.Textbox(placeholder=LABELS["placeholder"], submit_btn=True),
            chatbot=gr.Chatbot(sanitize_html=True, render_markdown=True, height=560),
        )
    return demo


def main(settings: Settings | None = None) -> None:
    """Serve the page on the configured loopback address and port."""
    settings = settings or get_settings()
    build_app(Answerer(settings=settings)).launch(
        server_name=settings.host, server_port=settings.port, auth=settings.auth_pair
    )


if __name__ == "__main__":
    main()
