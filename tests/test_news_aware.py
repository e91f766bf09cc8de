"""News awareness: time in questions, near-duplicate agency copies, sources that disagree (issue #8).

The articles are `bench/news_aware/articles/`: a flood whose death toll rises over three days (4 → 7 → 11), one of
those reports copied by two more outlets, a fire and a poll reported with different figures, a train crash two
outlets report alike, a story copied by three outlets, two sessions of parliament months apart, an undated piece.
"""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from conftest import REPO, gnad_rows, make_settings
from openai_server import FakeOpenAIServer

from ingest.near_duplicates import group, signature, similarity
from rag.disagreement import figures
from rag.time_intent import parse_time, published_phrase

ARTICLES = REPO / "bench" / "news_aware" / "articles"
TODAY = date(2025, 10, 20)
FLOOD_COPIES = {"hochwasser_2025-06-03.txt", "hochwasser_2025-06-03_standard.txt", "hochwasser_2025-06-03_krone.txt"}
POPE_COPIES = {"papstbesuch_dpa.txt", "papstbesuch_presse.txt", "papstbesuch_sn.txt"}


# -- parsing, without the model ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, start, end",
    [
        ("Wie viele Tote gab es im Juli 2025?", date(2025, 7, 1), date(2025, 7, 31)),
        ("Was meldete die Polizei am 3. Juni 2025?", date(2025, 6, 3), date(2025, 6, 3)),
        ("Was ist letzte Woche passiert?", date(2025, 10, 13), date(2025, 10, 19)),
        ("Was geschah vor zwei Wochen in Linz?", date(2025, 10, 6), date(2025, 10, 12)),
        ("What happened last month?", date(2025, 9, 1), date(2025, 9, 30)),
        ("Wie viele Menschen wurden 2024 evakuiert?", date(2024, 1, 1), date(2024, 12, 31)),
        ("Was beschloss der Landtag im Dezember?", date(2024, 12, 1), date(2024, 12, 31)),  # the last December
        ("Was geschah am 03.06.2025?", date(2025, 6, 3), date(2025, 6, 3)),  # day first, as in German
        ("Was geschah vor 3 Tagen in Linz?", date(2025, 10, 17), date(2025, 10, 17)),
        ("Wie viele Tote seit dem 2. Juni 2025?", date(2025, 6, 2), TODAY),  # from then up to today
        ("How many died since June 2025?", date(2025, 6, 1), TODAY),
        ("What happened in May?", date(2025, 5, 1), date(2025, 5, 31)),
        ("Was geschah im August in Linz?", date(2025, 8, 1), date(2025, 8, 31)),
        ("What happened on 3 March 2025?", date(2025, 3, 3), date(2025, 3, 3)),
        ("Was geschah 2015 in Wien?", date(2015, 1, 1), date(2015, 12, 31)),
        ("Wie viele Menschen flohen seit 2015 Richtung Europa?", date(2015, 1, 1), TODAY),
    ],
)
def test_dates_in_questions_become_periods_relative_to_the_configured_today(question, start, end):
    intent = parse_time(question, TODAY)
    assert (intent.start, intent.end) == (start, end)


@pytest.mark.parametrize("question", ["Wie ist die aktuelle Lage?", "What is the latest death toll?",
                                      "Wie viele Soldaten sind seit Kriegsbeginn gefallen?"])
def test_words_asking_for_the_newest_reports_are_recognized(question):
    intent = parse_time(question, TODAY)
    assert intent.recency and not intent.has_period


@pytest.mark.parametrize("question", ["Wer ist die Ministerin?", "Stimmt es, dass 30 Menschen starben?",
                                      "Wurden 12.000 Soldaten geschickt?", "Wer ist Kim Jong-un?",
                                      "What may North Korea send to Kursk?", "Will the troops march on Kyiv?",
                                      "Who is August Diehl?", "Schickt Nordkorea 2000 Soldaten nach Kursk?",
                                      "Did North Korea send 2000 soldiers?"])
def test_words_and_counts_that_merely_look_like_dates_are_not_periods(question):
    assert parse_time(question, TODAY) is None


def test_words_counting_back_from_today_leave_the_searched_text_and_named_dates_stay():
    from rag.time_intent import without_period

    for question, searched in (("Was geschah vor 3 Tagen in Linz?", "Was geschah in Linz?"),
                               ("Was ist letzte Woche in Kärnten passiert?", "Was ist in Kärnten passiert?"),
                               ("Letzte Woche?", "Letzte Woche?"),  # nothing else to search for
                               ("Was hat der Nationalrat im Juli 2025 beschlossen?",
                                "Was hat der Nationalrat im Juli 2025 beschlossen?")):
        assert without_period(question, parse_time(question, TODAY)) == searched


def test_publication_dates_are_said_as_precisely_as_known():
    assert published_phrase("2025-07", "de") == "vom Juli 2025"
    assert published_phrase("2025-06-05", "de") == "vom 5. Juni 2025"
    assert published_phrase("2025-06-05", "en") == "of 5 June 2025"
    assert published_phrase("", "de") == ""


def test_figures_are_counts_not_dates_years_or_times():
    found = figures("Am 14.07.2025 um 14 Uhr wurden im Jahr 2025 rund 200 Menschen und 12.000 Haushalte gezählt.")
    assert [(f.value, f.unit) for f in found] == [(200.0, "mensch"), (12000.0, "haushalt")]
    assert [(f.value, f.label) for f in figures("Die Zahl der Todesopfer in Kärnten ist auf sieben gestiegen.")] == [
        (7.0, "Todesopfer")
    ]


@pytest.mark.parametrize("written", ["10.000", "10 000", "10'000", "10\u202f000", "10\u00a0000"])
def test_a_number_with_thousands_separators_is_one_number(written):
    from rag.relevance import numbers

    assert [(f.value, f.unit) for f in figures(f"Mehr als {written} Soldaten wurden verlegt.")] == [(10000.0, "soldat")]
    assert numbers(f"Mehr als {written} Soldaten") == {"10000"}


def test_edited_copies_group_and_other_reports_of_the_same_event_do_not():
    texts = {p.name: p.read_text(encoding="utf-8").split("\n", 3)[-1] for p in ARTICLES.glob("*.txt")}
    signatures = {name: signature(text) for name, text in texts.items()}
    stories = group(signatures, 0.6, order=sorted(signatures))
    groups = {}
    for aid, story in stories.items():
        groups.setdefault(story, set()).add(aid)
    assert sorted(map(sorted, (g for g in groups.values() if len(g) > 1))) == sorted(map(sorted, (FLOOD_COPIES, POPE_COPIES)))
    # the first in `order` names the story; a report of the same flood a day earlier is another story
    assert stories["papstbesuch_sn.txt"] == "papstbesuch_dpa.txt"
    assert similarity(signatures["hochwasser_2025-06-02.txt"], signatures["hochwasser_2025-06-03.txt"]) < 0.3


def test_a_round_up_quoting_two_reports_does_not_make_them_one_story():
    a, b = (text for _, text in gnad_rows(21)[10:21:10])
    signatures = {"roundup": signature(a + " " + b), "a": signature(a), "b": signature(b)}
    for order in (["roundup", "a", "b"], ["a", "b", "roundup"]):
        stories = group(signatures, 0.6, order)
        assert stories["a"] != stories["b"], order


def test_copies_cut_to_a_third_are_found_among_a_thousand_articles():
    rows = [text for _, text in gnad_rows(1000)]
    longest = sorted(range(len(rows)), key=lambda i: -len(rows[i]))[:20]
    signatures = {f"a{i}": signature(t) for i, t in enumerate(rows)}
    signatures |= {f"copy{i}": signature(rows[i][: len(rows[i]) // 3]) for i in longest}
    stories = group(signatures, 0.6)
    assert sum(stories[f"copy{i}"] == stories[f"a{i}"] for i in longest) >= 18


def test_a_copy_cut_short_is_still_a_copy_but_a_shared_stock_phrase_is_not():
    original = max((text for _, text in gnad_rows(20)), key=len)  # a long agency story
    first_half = original[: len(original) // 2]
    assert similarity(signature(original), signature(first_half)) > 0.9
    # 10kGNAD has a dozen such stubs: a lead and a stock sentence, each wholly "contained" in the others
    stock = " Der Volltext dieses auf Agenturmeldungen basierenden Artikels steht aus rechtlichen Gründen nicht mehr zur Verfügung."
    a = "Explosion auf der Einkaufsstraße Istiklal Caddesi in Istanbul: 40 Verletzte, darunter mehrere Touristen."
    b = "Privater Besuch ohne Öffentlichkeit – die beiden Politiker sind seit langem miteinander befreundet."
    assert similarity(signature(a + stock), signature(b + stock)) < 0.6


# -- with the real model and index ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def news_settings(tmp_path_factory):
    return make_settings(tmp_path_factory.mktemp("news-aware"), today=TODAY)


@pytest.fixture(scope="module")
def news_report(news_settings):
    from ingest.sync import sync

    return sync([ARTICLES], news_settings)


@pytest.fixture(scope="module")
def news(news_settings, news_report):
    from rag import Answerer, Retriever

    return Answerer(Retriever(news_settings), news_settings)


def _with(news, **changes):
    from rag import Answerer, Retriever

    settings = news.settings.model_copy(update=changes)
    return Answerer(Retriever(settings), settings)


def test_a_month_in_the_question_brings_that_months_report_first(news):
    hits = news.retriever.search("Was hat der Nationalrat im Oktober beschlossen?")
    assert hits[0].article.article_id == "nationalrat_2025-10-15.txt"
    hits = news.retriever.search("Was hat der Nationalrat im Juli 2025 beschlossen?")
    assert hits[0].article.article_id == "nationalrat_2025-07-09.txt"
    answer = news.answer("Was hat der Nationalrat im Juli 2025 beschlossen?")
    assert {c.hit.article.article_id for c in answer.citations} == {"nationalrat_2025-07-09.txt"}
    assert "Laut einem Bericht vom 9. Juli 2025 (APA)" in answer.text


def test_relative_dates_count_from_the_configured_today(news):
    question = "Was ist letzte Woche in Kärnten passiert?"
    june = _with(news, today=date(2025, 6, 10)).answer(question)
    assert june.answerable and not june.notice
    assert {c.hit.article.date[:7] for c in june.citations} == {"2025-06"}
    october = news.answer(question)  # nothing from 13–19 October: said, not hidden
    assert "gefragten Zeitraum (2025-10-13 – 2025-10-19)" in october.notice


def test_asking_for_the_latest_brings_the_newest_report_first(news):
    for question in ("Wie viele Todesopfer forderte das Hochwasser in Kärnten bisher?",
                     "What is the latest death toll of the floods in Carinthia?"):
        assert news.retriever.search(question)[0].article.article_id == "hochwasser_2025-06-05.txt", question


def test_undated_articles_stay_findable_under_time_words(news):
    for question in ("Wie funktioniert derzeit die Hochwasserwarnung in Österreich?",
                     "Wie funktionierte im Juni 2025 die Hochwasserwarnung in Österreich?"):
        hits = news.retriever.search(question)
        assert hits[0].article.article_id == "hochwasserwarnung_hintergrund.txt", question
    answer = news.answer("Wie funktioniert derzeit die Hochwasserwarnung in Österreich?")
    assert "Laut einem undatierten Bericht" in answer.text


def test_no_report_from_the_asked_period_is_said_not_hidden(news):
    answer = news.answer("Was hat der Nationalrat im Mai 2025 beschlossen?")
    assert answer.answerable and "gefragten Zeitraum (Mai 2025)" in answer.notice
    assert "vom 9. Juli 2025" in answer.text or "vom 15. Oktober 2025" in answer.text


def test_a_follow_up_keeps_the_period_of_the_question_it_continues(news):
    answer = news.answer("Und was wurde dort beschlossen?", previous=["Was hat der Nationalrat im Mai 2025 beschlossen?"])
    assert "gefragten Zeitraum (Mai 2025)" in answer.notice


def test_a_year_no_article_mentions_is_still_refused(news):
    assert not news.answer("Was hat der Nationalrat im Jahr 2019 beschlossen?").answerable


def test_ingest_groups_near_duplicates_and_a_story_takes_one_slot(news, news_report):
    assert news_report.near_duplicates == len(FLOOD_COPIES) + len(POPE_COPIES)
    hits = news.retriever.search("Wann kommt der Papst nach Wien?")
    pope = [h for h in hits if h.article.article_id in POPE_COPIES]
    assert len(pope) == 1
    assert {a.article_id for a in pope[0].also} == POPE_COPIES - {pope[0].article.article_id}
    assert {"papstbesuch_analyse.txt"} <= {h.article.article_id for h in hits}  # the freed slots go to other stories
    listed = pope[0].to_json()["also_reported_by"]
    assert {a["agency"] for a in listed} <= {"dpa", "Die Presse/dpa", "Salzburger Nachrichten/dpa"} and len(listed) == 2

    ungrouped = _with(news, group_duplicates=False).retriever.search("Wann kommt der Papst nach Wien?")
    assert sum(h.article.article_id in POPE_COPIES for h in ungrouped) > 1  # what grouping prevents


def test_a_copy_arriving_later_joins_its_story_and_the_story_survives_its_first_report(tmp_path, news_settings):
    from ingest.sync import sync
    from rag import Retriever

    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("papstbesuch_dpa.txt", "papstbesuch_presse.txt", "zugunglueck_orf.txt"):
        shutil.copy(ARTICLES / name, folder / name)
    settings = news_settings.model_copy(update={"index_dir": tmp_path / "index"})
    assert sync([folder], settings).near_duplicates == 2
    shutil.copy(ARTICLES / "papstbesuch_sn.txt", folder / "papstbesuch_sn.txt")
    assert sync([folder], settings).near_duplicates == 3
    (folder / "papstbesuch_dpa.txt").unlink()
    report = sync([folder], settings)
    assert (report.removed, report.near_duplicates) == (1, 2)
    hits = Retriever(settings).search("Wann besucht der Papst Wien?")
    assert [h.article.article_id for h in hits if h.article.article_id in POPE_COPIES] in (
        ["papstbesuch_presse.txt"], ["papstbesuch_sn.txt"])


def test_stories_are_regrouped_when_the_threshold_changes_or_a_sync_was_cut_short(news_settings, news_report):
    from ingest.sync import sync
    from rag.retriever import open_store

    strict = news_settings.model_copy(update={"duplicate_threshold": 0.99})
    assert sync([ARTICLES], strict).near_duplicates < news_report.near_duplicates
    open_store(news_settings).mark_grouped(None)  # as a sync interrupted after writing articles leaves it
    assert sync([ARTICLES], news_settings).near_duplicates == news_report.near_duplicates
    assert sync([ARTICLES], news_settings).seconds["group"] == 0  # a no-op does not regroup


def test_citations_never_go_to_two_copies_of_one_story(news):
    answer = news.answer("Wie viele Haushalte sind im Bezirk Wolfsberg ohne Strom?")
    assert len({c.hit.article.article_id for c in answer.citations} & FLOOD_COPIES) == 1


def test_a_rising_toll_is_reported_as_disagreement_newest_first(news):
    answer = news.answer("Wie viele Tote forderte das Hochwasser in Kärnten?")
    line = next(ln for ln in answer.text.splitlines() if ln.startswith("Die Quellen nennen unterschiedliche Zahlen"))
    n = {c.hit.article.article_id: c.n for c in answer.citations}
    assert line.index("elf") < line.index("sieben") < line.index("vier")  # newest report first
    assert f"Am neuesten ist der Bericht vom 5. Juni 2025 [{n['hochwasser_2025-06-05.txt']}]" in line
    cited = set(n)
    assert "hochwasser_2025-06-05.txt" in cited and "hochwasser_2025-06-02.txt" in cited and cited & FLOOD_COPIES


def test_same_day_reports_with_different_figures_are_both_cited(news):
    for question in ("Wie viele Menschen wurden beim Brand im Linzer Hafen evakuiert?",
                     "How many people were evacuated because of the warehouse fire in Linz?"):
        answer = news.answer(question)
        assert "unterschiedliche Zahlen" in answer.text or "different figures" in answer.text, question
        assert {c.hit.article.article_id for c in answer.citations} == {"lagerhalle_linz_orf.txt",
                                                                         "lagerhalle_linz_kurier.txt"}
        assert "120" in answer.text and "200" in answer.text


@pytest.mark.parametrize("question", ["Wie viele Menschen wurden beim Zugunglück bei Oberndorf verletzt?",
                                      "Wie viele Feuerwehrleute waren beim Brand im Linzer Hafen im Einsatz?"])
def test_agreeing_or_differently_counting_reports_raise_no_alarm(news, question):
    answer = news.answer(question)
    assert answer.answerable and "unterschiedliche Zahlen" not in answer.text


def test_llm_mode_is_told_of_the_disagreement_and_cannot_hide_it(news):
    with FakeOpenAIServer() as server:
        llm = _with(news, llm_base_url=server.url, llm_timeout=20)
        server.reply = "Das Hochwasser forderte elf Todesopfer [1]."  # picks one side
        answer = llm.answer("Wie viele Tote forderte das Hochwasser in Kärnten?")
        user = server.requests[-1]["body"]["messages"][1]["content"]
    assert answer.mode == "llm" and "The passages give different figures" in user and "newest" in user
    assert "Die Quellen nennen unterschiedliche Zahlen" in answer.text
    assert len({c.hit.article.article_id for c in answer.citations}) >= 3  # every side is cited
    sources = answer.text.splitlines()[-1]
    assert sources.startswith("Quellen: [1] 5. Juni 2025 (APA)")  # and when each cited report appeared


def test_llm_answer_that_already_names_both_sides_is_left_alone(news):
    with FakeOpenAIServer() as server:
        llm = _with(news, llm_base_url=server.url, llm_timeout=20)
        server.reply = "Laut Polizei wurden 120 Menschen evakuiert [1], laut Feuerwehr rund 200 [2]."
        answer = llm.answer("Wie viele Menschen wurden beim Brand im Linzer Hafen evakuiert?")
    assert "unterschiedliche Zahlen" not in answer.text
    assert answer.text.startswith("Laut Polizei wurden 120 Menschen evakuiert [1], laut Feuerwehr rund 200 [2].")
    assert "Quellen: [1] 14. Juli 2025" in answer.text


def test_news_question_set_is_in_the_repo_and_judged_by_the_bench():
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    import news_aware

    qs = news_aware.questions()
    assert {q["feature"] for q in qs} == {"time", "duplicates", "disagreement"}
    names = {p.name for p in ARTICLES.glob("*.txt")}
    for q in qs:
        top = q.get("expect_top", [])
        named = set(top if isinstance(top, list) else [top]) | set(q.get("story", [])) | {q.get("newest")} - {None}
        assert named <= names, q["id"]


def test_the_page_lists_the_other_outlets_of_a_cited_story(news):
    from app import LABELS, format_answer, sources_html

    answer = news.answer("Wann kommt der Papst nach Wien?")
    cited = next(c for c in answer.citations if c.hit.article.article_id in POPE_COPIES)
    others = [a for a in cited.hit.also]
    assert len(others) == 2
    for html in (format_answer(answer, LABELS["de"]), sources_html(answer, LABELS["de"])):
        assert "Auch berichtet von: " in html
        assert all(f"{a.agency} ({a.date})" in html for a in others)
