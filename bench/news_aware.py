"""How often the assistant gets news-specific questions right: time, near-duplicate copies, disagreeing sources.

    .venv/bin/python bench/news_aware.py                 # this checkout
    PYTHONPATH=../before .venv/bin/python bench/news_aware.py     # another checkout (e.g. a git worktree of an older commit)

Indexes `bench/news_aware/articles/` (19 short dated reports written for this set: a flood with a rising death
toll and three outlets' copies of one report, a fire and a poll reported with different figures, agreeing reports
of a train crash, a story copied by three outlets, an undated background piece) into a temporary folder and asks
`bench/news_aware/questions.jsonl` in extractive mode, each relative to the "today" it names. Prints a table of
how many answers are right per feature (criteria in `judge`).
"""
from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent / "news_aware"
DISAGREE = ("Die Quellen nennen unterschiedliche Zahlen", "The sources give different figures")
NEWEST = ("Am neuesten ist der Bericht", "The newest is the report")
# Not imported from rag.time_intent: this script also judges older checkouts that lack it.
MONTHS = {"de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                 "November", "Dezember"],
          "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December"]}


def questions() -> list[dict]:
    """The question set."""
    return [json.loads(line) for line in (HERE / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]


def says_date(text: str, iso: str, lang: str) -> bool:
    """Whether `text` names the day (or month) `iso` in words, as an answer should say when a report appeared."""
    y, *rest = iso.split("-")
    if not rest:
        return y in text
    m, *d = rest
    month = MONTHS[lang][int(m) - 1]
    return (f"{int(d[0])}. {month} {y}" if lang == "de" else f"{int(d[0])} {month} {y}") in text if d else f"{month} {y}" in text


def judge(q: dict, answer) -> dict[str, bool]:
    """Which of the question's criteria the answer meets (criterion → right)."""
    hits, text, lang = answer.hits, answer.text, q["lang"]
    if q["feature"] == "time":
        want = q["expect_top"] if isinstance(q["expect_top"], list) else [q["expect_top"]]
        cited_dated = [c.hit.article.date for c in answer.citations if c.hit.article.date]
        return {
            "time: right report first": bool(hits)
            and bool(set(want) & {hits[0].article.article_id, *(a.article_id for a in getattr(hits[0], "also", ()))}),
            "time: answer says when its sources were published": bool(answer.citations)
            and all(says_date(text, d, lang) for d in cited_dated),
        }
    if q["feature"] == "duplicates":
        story = set(q["story"])
        copies_in_hits = sum(h.article.article_id in story for h in hits)
        cited = {c.hit.article.article_id for c in answer.citations} & story
        shown = next((h for h in hits if h.article.article_id in story), None)
        also = {a.article_id for a in getattr(shown, "also", ())} if shown else set()
        return {
            "duplicates: story takes one slot of the top 5": copies_in_hits == 1,
            "duplicates: copies listed as also reported by": shown is not None and also == story - {shown.article.article_id},
            "duplicates: one citation per story": len(cited) <= 1,
        }
    flagged = any(p in text for p in DISAGREE)
    right = {("disagreement: flagged and both sides cited" if q["conflict"] else "disagreement: no false alarm"):
             flagged == q["conflict"] and (not flagged or len({c.hit.article.article_id for c in answer.citations}) > 1)}
    if q.get("newest"):
        newest = next((c for c in answer.citations if c.hit.article.article_id == q["newest"]), None)
        line = next((ln for ln in text.splitlines() if any(p in ln for p in DISAGREE)), "")
        right["disagreement: newest report named"] = newest is not None and any(
            f"{p}" in line and f"[{newest.n}]." in line.split(p, 1)[1] for p in NEWEST if p in line
        )
    return right


def main() -> None:
    from ingest.sync import sync
    from rag.answer import Answerer
    from rag.config import Settings
    from rag.retriever import Retriever

    with tempfile.TemporaryDirectory() as tmp:
        base = Settings(index_dir=Path(tmp) / "index", llm_base_url=None)
        sync([HERE / "articles"], base)
        tally: dict[str, list[bool]] = defaultdict(list)
        wrong: list[str] = []
        for q in questions():
            settings = base.model_copy(update={"today": date.fromisoformat(q["today"])})
            answer = Answerer(Retriever(settings), settings).answer(q["question"])
            for criterion, ok in judge(q, answer).items():
                tally[criterion].append(ok)
                if not ok:
                    wrong.append(f"{q['id']} {criterion}: top {[h.article.article_id for h in answer.hits[:3]]}")
    print("| criterion | right | of |")
    print("|---|---|---|")
    for criterion, oks in tally.items():
        print(f"| {criterion} | {sum(oks)} | {len(oks)} |")
    print("\nwrong:", *wrong, sep="\n  ", file=sys.stderr)


if __name__ == "__main__":
    main()
