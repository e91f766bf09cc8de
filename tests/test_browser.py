"""The chat page in a real browser (Debian's Chromium driven by Playwright): answers, citations, filters, upload,
and article HTML that must never run. Screenshots of each state go to test-artifacts/ for review."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import REPO, SEED, free_port, make_settings

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
EVIL_TITLE = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is absent: apt-get install chromium")


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (./test.sh installs it)")
    from app import launch
    from ingest.sync import sync
    from rag import Answerer, Retriever

    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    (corpus / "evil.html").write_text(
        f"<html><head><title>{EVIL_TITLE.replace('<', '&lt;').replace('>', '&gt;')}</title>"
        "<meta name='date' content='2024-02-01'></head><body><p>Die Stadt Salzburg baut ein neues Hallenbad "
        "mit 50-Meter-Becken.</p><script>alert('script')</script><p>Es soll 2027 eröffnen.</p></body></html>",
        "utf-8",
    )
    settings = make_settings(root / "index", corpus_dir=corpus)
    sync([corpus], settings)
    port = free_port()
    demo = launch(Answerer(Retriever(settings)), port=port, block=False)
    ARTIFACTS.mkdir(exist_ok=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture()
def page(page_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.goto(page_url)
        page.locator("#question textarea").wait_for(timeout=30_000)
        yield page
        browser.close()


def ask(page, question: str, expect: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    # in the assistant's reply (the example questions in the empty chat may contain the same words)
    replies = page.locator("#chat .bot-row")
    try:
        replies.get_by_text(expect).last.wait_for(timeout=60_000)
    except PlaywrightTimeout:
        page.screenshot(path=ARTIFACTS / "failed-reply.png", full_page=True)
        said = replies.last.inner_text() if replies.count() else "(no reply)"
        raise AssertionError(f"no reply with {expect!r} within 60 s; the last reply says: {said!r}") from None


def set_filter(page, field: str, value: str) -> None:
    """Type into a filter field. The accordion mounts its fields when opened, and a value typed within the same
    moment can be reset by the new field's first update (no person types that fast, a test does): type again until
    the value survives the page's pending updates (two animation frames)."""
    box = page.locator(f"#{field} textarea, #{field} input").first
    for _ in range(5):
        box.fill(value)
        box.evaluate("e => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        if box.input_value() == value:
            return
    raise AssertionError(f"#{field} does not keep the value {value!r}")


def test_answer_streams_in_and_citation_shows_the_marked_passage(page):
    ask(page, "Wie viele Pioniere will Nordkorea nach Kursk schicken?", "6.000 Pioniere")
    page.screenshot(path=ARTIFACTS / "1-answer.png", full_page=True)
    page.locator('#chat a[href="#src-1"]').first.click()
    source = page.locator("#src-1")
    source.wait_for()
    assert "active" in source.get_attribute("class")
    assert any("6.000 Pioniere" in m for m in source.locator("mark").all_inner_texts())
    assert "Kim traf Lawrow" in source.inner_text() and "2025-07" in source.inner_text()
    source.locator("summary").click()
    article = source.locator(".article")
    article.wait_for()
    assert "Nordkoreas Machthaber Kim Jong-un" in article.inner_text() and article.locator("mark").count() >= 1
    page.screenshot(path=ARTIFACTS / "2-citation-and-article.png", full_page=True)


def test_date_filter_excluding_the_seed_gives_a_refusal(page):
    page.get_by_text("Filter", exact=True).click()
    set_filter(page, "date-to", "2025-06-30")
    ask(page, "Wie viele Pioniere will Nordkorea nach Kursk schicken?", "beantworten diese Frage nicht")
    page.screenshot(path=ARTIFACTS / "3-filter-refusal.png", full_page=True)
    assert page.locator("#sources .source").count() == 0


def test_uploaded_article_is_found_without_restart(page, tmp_path):
    upload = tmp_path / "hochwasser.txt"
    upload.write_text("date 2025-09 Hochwasser in Krems\n\nVon: APA\n\nDie Donau stieg in Krems auf 8,4 Meter.", "utf-8")
    page.locator("#upload input[type=file]").set_input_files(str(upload))
    page.locator("#upload-button").click()
    page.locator("#upload-message").get_by_text("gespeichert und indexiert").wait_for(timeout=60_000)
    assert "3 Artikel" in page.locator("#status").inner_text()
    ask(page, "Wie hoch stieg die Donau in Krems?", "8,4 Meter")
    page.screenshot(path=ARTIFACTS / "4-upload-found.png", full_page=True)
    page.reload()  # a page opened later shows the index as it is now, not as it was when the server started
    page.locator("#status").get_by_text("3 Artikel").wait_for(timeout=5_000)


def test_article_html_shows_as_text_and_never_runs(page):
    ask(page, "Was baut die Stadt Salzburg?", "Hallenbad")
    sources = page.locator("#sources")
    assert EVIL_TITLE in sources.inner_text()  # shown literally
    assert page.locator("img[src=x]").count() == 0 and page.dialogs == []
    assert "alert('script')" not in sources.inner_text()  # the article's script was never indexed
    page.screenshot(path=ARTIFACTS / "5-escaped-title.png", full_page=True)


def test_a_follow_up_question_is_read_with_the_one_before(page):
    ask(page, "Was baut die Stadt Salzburg?", "Hallenbad")
    # alone, this question names nothing the articles could be matched with
    ask(page, "Und wann soll es eröffnen?", "2027")


def test_page_is_usable_at_phone_width(page):
    page.set_viewport_size({"width": 390, "height": 844})
    ask(page, "Wo traf Kim den russischen Außenminister?", "Wonsan")
    box = page.locator("#question textarea").bounding_box()
    assert box["width"] <= 390 and box["x"] >= 0
    page.screenshot(path=ARTIFACTS / "6-phone.png", full_page=True)
