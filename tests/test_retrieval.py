"""Retrieval over a real index: German and English questions find the right article first, with full metadata."""
from __future__ import annotations

import pytest

from conftest import SEED

SEED_QUESTIONS = [
    "Wie viele nordkoreanische Soldaten wurden nach Russland verlegt?",
    "Wo traf Kim Jong-un den russischen Außenminister?",
    "How many North Korean soldiers were sent to Russia?",
    "Which village in Donetsk did Russia claim to have captured?",
]
# (question, 10kGNAD row the answer is in)
GNAD_QUESTIONS = [
    ("Welches Kampfgas setzten Rebellen in Nordsyrien ein?", 4),
    ("What chemical weapon was used in fighting near Aleppo?", 4),
    ("Wie viele Insassen des notgelandeten Hubschraubers nahmen die Taliban als Geiseln?", 8),
    ("Which countries are hit hardest by the Locky ransomware?", 9),
    ("Wie viele Arbeiter haben laut Arbeitsklimaindex einen All-in-Vertrag?", 0),
]


def test_index_holds_every_article(indexed):
    assert indexed.added == 13 and indexed.skipped == [] and indexed.chunks == indexed.chunks_total > 13


@pytest.mark.parametrize("question", SEED_QUESTIONS)
def test_seed_questions_find_the_seed_first(retriever, question):
    hits = retriever.search(question, k=3)
    assert hits[0].article.article_id == SEED.name
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[-1].score


@pytest.mark.parametrize(("question", "row"), GNAD_QUESTIONS)
def test_news_questions_find_their_article_first(retriever, question, row):
    assert retriever.search(question, k=5)[0].article.article_id == f"gnad_{row:04d}.txt"


def test_hits_carry_full_article_metadata(retriever):
    hit = retriever.search("Kim Lawrow Wonsan", k=1)[0]
    a = hit.article
    assert (a.title, a.date, a.agency) == ("Kim traf Lawrow in der Küstenstadt Wonsan", "2025-07", "APA/dpa/AFP")
    assert a.source.endswith(SEED.name)
    assert a.text[hit.chunk.start : hit.chunk.end] == hit.chunk.text
    assert set(hit.to_json()) >= {"rank", "score", "article_id", "source", "title", "date", "text", "start", "end"}


def test_one_article_does_not_fill_the_top_k_while_others_are_relevant(retriever):
    hits = retriever.search("Russland Nordkorea Ukraine Krieg Soldaten", k=6)
    per_article = [h.article.article_id for h in hits[:4]].count(SEED.name)
    assert per_article <= retriever.settings.max_chunks_per_article
    assert len({h.article.article_id for h in hits}) >= 3


def test_single_relevant_article_still_fills_k_when_others_run_out():
    from rag.retriever import Candidate, rank_with_cap
    from rag.schema import Article, Chunk
    from rag.store import StoredChunk

    art = Article("a", "T", "x" * 100, "a.txt")
    other = Article("b", "U", "y" * 100, "b.txt")
    cands = [Candidate(StoredChunk(Chunk(f"a{i}", "a", i, "x", i, i + 1), art, 0.9), 0.9 - i / 100) for i in range(4)]
    cands.append(Candidate(StoredChunk(Chunk("b0", "b", 0, "y", 0, 1), other, 0.5), 0.5))
    hits = rank_with_cap(cands, k=4, cap=2)
    assert [h.chunk.chunk_id for h in hits] == ["a0", "a1", "b0", "a2"]


def test_langchain_retriever_returns_documents_with_metadata(retriever):
    from langchain_core.documents import Document

    from rag import NewsRetriever

    docs = NewsRetriever(retriever=retriever, k=2).invoke("Wie viele Pioniere schickt Nordkorea nach Kursk?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    meta = docs[0].metadata
    assert meta["article_id"] == SEED.name and meta["date"] == "2025-07"
    assert {"title", "source", "start", "end", "score"} <= set(meta)
    assert "6.000" in " ".join(d.page_content for d in docs)


def test_keyword_side_meets_compounds_and_stays_in_step(tmp_path):
    from ingest.sync import sync
    from conftest import make_settings
    from rag import Retriever

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "kinder.txt").write_text(
        "Schulen in Graz\n\nDie Stadt nimmt mehr Kinder von Flüchtlingen in ihre Schulen auf. Die Lehrer sind froh.", "utf-8"
    )
    (corpus / "wetter.txt").write_text("Wetter\n\nAm Wochenende regnet es in ganz Österreich. Es wird kühler.", "utf-8")
    settings = make_settings(tmp_path / "ix")
    sync([corpus], settings)
    r = Retriever(settings)
    found = r.store.keyword.search("Flüchtlingskinder", 5)
    assert found and found[0][0].startswith("kinder.txt#")
    assert r.store.keyword.search("Schulen_in_Graz", 5)[0][0].startswith("kinder.txt#")  # "_" splits words
    assert r.search("Flüchtlingskinder", k=1)[0].article.article_id == "kinder.txt"

    (corpus / "wetter.txt").write_text("Wetter\n\nSchnee in Tirol, die Pässe sind gesperrt.", "utf-8")
    (corpus / "kinder.txt").unlink()
    report = sync([corpus], settings)
    assert (report.updated, report.removed) == (1, 1)
    assert r.store.keyword.count() == r.store.counts()[1]  # no stale or missing keyword rows
    assert r.store.keyword.search("Flüchtlingskinder", 5) == []
    assert "Schnee in Tirol" in r.search("Schnee Tirol", k=1)[0].chunk.text


def version(article_id: str, texts: list[str], title: str = "", body: str = ""):
    """An article version `(article, chunks, vectors)` for the search file; `body` tells versions apart."""
    import numpy as np

    from rag.schema import Article, Chunk

    article = Article(article_id, title, body or " ".join(texts), f"{article_id}")
    chunks = [Chunk(f"{article_id}#{article.content_hash[:6]}#{i}", article_id, i, t, 0, len(t))
              for i, t in enumerate(texts)]
    vectors = np.eye(4, dtype=np.float32)[[i % 4 for i in range(len(texts))]]
    return article, chunks, vectors


def test_search_file_shows_committed_versions_whole_and_reconciles(tmp_path):
    from rag.keyword import KeywordIndex

    index = KeywordIndex(tmp_path / "keyword.sqlite3")
    a1, b = version("a.txt", ["Wahl in Wien", "Regen in Graz"], "Wien"), version("b.txt", ["Schnee"])
    index.add([a1, b])
    ids = [c.chunk_id for _, cs, _ in (a1, b) for c in cs]
    assert index.committed(ids) == {}  # written, not yet committed: no search sees them
    index.commit([(a1[0], "a.txt"), (b[0], "story-b")])
    rows = index.committed(ids)
    assert [rows[c.chunk_id].chunk for c in a1[1]] == a1[1] and rows[b[1][0].chunk_id].article == b[0]
    assert rows[b[1][0].chunk_id].story == "story-b" and (rows[a1[1][1].chunk_id].vector == a1[2][1]).all()
    assert index.search("Graz", 5)[0][0] == a1[1][1].chunk_id  # the title is part of every passage
    a2 = version("a.txt", ["Wahl in Linz"], body="neu")
    index.add([a2])  # a new version written: searches still see the old one, whole
    both = ids + [a2[1][0].chunk_id]
    seen = sorted((row.chunk.article_id, row.chunk.index) for row in index.committed(both).values())
    assert seen == [("a.txt", 0), ("a.txt", 1), ("b.txt", 0)]
    index.commit([(a2[0], "a.txt")])  # now the new one, and the old one's passages are gone
    assert set(index.committed(both)) == {a2[1][0].chunk_id, b[1][0].chunk_id}
    assert index.count() == 2 and index.search("Graz", 5) == []
    index.set_stories({"b.txt": "story-c"})
    assert index.committed([b[1][0].chunk_id])[b[1][0].chunk_id].story == "story-c"
    # brought in line with what the server holds: a.txt gone, b.txt's story changed, c.txt not here yet
    c = version("c.txt", ["Sonne"])
    committed = {"b.txt": (b[0].content_hash, "b.txt"), "c.txt": (c[0].content_hash, "c.txt")}
    assert index.reconcile(committed) == (1, ["c.txt"])
    assert set(index.committed(both)) == {b[1][0].chunk_id}
    assert index.committed([b[1][0].chunk_id])[b[1][0].chunk_id].story == "b.txt"
    index.add([c])  # passages without a committed article row are not whole
    assert index.reconcile(committed) == (0, ["c.txt"])
    index.delete(["b.txt"])
    assert index.committed(both) == {} and index.count() == 1


def test_keyword_search_sees_what_any_writer_committed(tmp_path):
    from rag.keyword import KeywordIndex

    def passages(article, word, n):
        return version(article, [f"{word} {i}" for i in range(n)])

    path = tmp_path / "keyword.sqlite3"
    reader, writer = KeywordIndex(path), KeywordIndex(path)  # two connections, as two processes have
    writer.add([passages("w.txt", "Wien", 3), passages("g.txt", "Graz", 1)])
    assert [cid.split("#")[0] for cid, _ in reader.search("Graz", 20)] == ["g.txt"]
    writer.add([passages("g2.txt", "Graz", 4)])
    assert sorted(cid.split("#")[0] for cid, _ in reader.search("Wien Graz", 20)) == ["g.txt"] + ["g2.txt"] * 4 + [
        "w.txt"] * 3
    reader.delete(["w.txt", "g.txt"])  # and this connection's own writes, seen by the other
    assert {cid.split("#")[0] for cid, _ in writer.search("Wien Graz", 20)} == {"g2.txt"}
    assert KeywordIndex(path).search("Wien", 20) == []


def test_postings_left_behind_by_an_interrupted_write_are_built_again(tmp_path, monkeypatch):
    import shutil

    from rag.keyword import KeywordIndex
    from rag.postings import Postings

    path = tmp_path / "keyword.sqlite3"
    index = KeywordIndex(path)
    index.add([version("a.txt", ["Bericht aus Wien"]), version("b.txt", ["Bericht aus Graz"])])
    real_update = Postings.update

    def killed(self, *args, **kwargs):  # the process dies between the rows' commit and the postings'
        raise KeyboardInterrupt

    monkeypatch.setattr(Postings, "update", killed)
    with pytest.raises(KeyboardInterrupt):
        index.add([version("c.txt", ["Bericht aus Linz"])])
    monkeypatch.setattr(Postings, "update", real_update)
    assert index.search("Linz", 5) == []  # the postings lag the rows
    assert KeywordIndex(path).search("Linz", 5)[0][0].startswith("c.txt#")  # opening builds them again
    monkeypatch.setattr(Postings, "update", killed)
    with pytest.raises(KeyboardInterrupt):
        index.delete(["a.txt"])
    monkeypatch.setattr(Postings, "update", real_update)
    # a passage the postings still hold but the rows do not is left out; the next write builds them again
    assert sorted(cid.split("#")[0] for cid, _ in index.search("Bericht", 5)) == ["b.txt", "c.txt"]
    index.add([version("d.txt", ["Bericht aus Salzburg"])])
    assert index._postings.count() == index.count() == 3
    assert sorted(cid.split("#")[0] for cid, _ in index.search("Bericht", 5)) == ["b.txt", "c.txt", "d.txt"]
    (path.with_suffix(".postings") / "meta.json").write_text("{ damaged")
    assert sorted(cid.split("#")[0] for cid, _ in KeywordIndex(path).search("Bericht", 5)) == [
        "b.txt", "c.txt", "d.txt"]
    shutil.rmtree(path.with_suffix(".postings"))  # lost altogether
    assert sorted(cid.split("#")[0] for cid, _ in KeywordIndex(path).search("Bericht", 5)) == [
        "b.txt", "c.txt", "d.txt"]


def test_hybrid_fetches_keyword_hits_the_dense_side_found_only_once(retriever):
    store = retriever.store
    question = "Wie viele nordkoreanische Soldaten wurden nach Russland verlegt?"
    vector = retriever.query_vector(question)
    found = store.keyword_matches(question, 10)
    dense, keyword = store.hybrid(vector, 10, found)
    both = {c.chunk.chunk_id for c in dense} & {cid for cid, _ in found}
    assert both and len(both) < len(found)  # the question exercises both cases
    alone_dense, alone_keyword = store.query(vector, 10), store.keyword_query(question, 10, vector)
    def seen(chunks):
        return [(c.chunk, c.article, c.similarity) for c in chunks]

    assert seen(dense) == seen(alone_dense)
    by_id = {c.chunk.chunk_id: c for c in dense}
    assert [c.chunk for c, _ in keyword] == [c.chunk for c, _ in alone_keyword]  # same hits, same order
    assert [b for _, b in keyword] == pytest.approx([b for _, b in alone_keyword])  # BM25 scores untouched
    for (c, _), (alone, _) in zip(keyword, alone_keyword):
        assert c.article == alone.article and c.similarity == pytest.approx(alone.similarity)
        if c.chunk.chunk_id in both:
            assert c is by_id[c.chunk.chunk_id]  # the dense side's chunk itself: no second fetch
    # a keyword match without a committed passage in the search file is left out, alone or not
    gone = ("gnad_0001.txt#deadbeef#0", 9.9)
    assert store.hybrid(vector, 10, [gone])[1] == []
    assert [c.chunk for c, _ in store.hybrid(vector, 10, [gone, *found])[1]] == [c.chunk for c, _ in keyword]


def test_a_search_asks_chroma_once_for_the_nearest_ids_only(retriever, monkeypatch):
    # Chroma costs ≈ 4 ms a call once it returns texts, metadata or vectors (README, "Scale"): the rest of a search
    # comes from the search file. A spy on the real client's collections, not a mock.
    from chromadb.api.models.Collection import Collection

    retriever.search("Aufwärmen")  # the index opened
    calls = []
    for name in ("query", "get", "count", "peek"):
        real = getattr(Collection, name)
        monkeypatch.setattr(Collection, name, lambda self, *a, _real=real, _name=name, **kw: (
            calls.append((_name, kw.get("include"))), _real(self, *a, **kw))[1])
    hits = retriever.search("How many North Korean soldiers were sent to Russia?", k=5)
    assert hits[0].article.article_id == SEED.name and hits[0].article.text and hits[0].chunk.text
    assert calls == [("query", ["distances"])]


def test_the_agencies_the_page_offers_come_from_the_search_file(retriever, monkeypatch):
    # the page asks on every load; Chroma's manifest took 1.4–4 s at 10k articles (a spy on the real client)
    from chromadb.api.models.Collection import Collection

    from rag.schema import byline_agencies

    manifest = retriever.store.manifest()
    named = sorted({n for m in manifest.values() for n in byline_agencies(m.get("agency", ""))}, key=str.casefold)
    calls = []
    real = Collection.get
    monkeypatch.setattr(Collection, "get", lambda self, *a, **kw: (calls.append(kw), real(self, *a, **kw))[1])
    assert named and retriever.store.agencies() == named
    assert calls == []


def test_a_keyword_file_dropped_and_built_again_by_another_process_is_read_anew(tmp_path):
    import shutil

    from rag.keyword import KeywordIndex
    from rag.store import Database

    db = Database(tmp_path)  # this process's
    held = db.keyword_index("k")  # as a search in progress holds it
    held.add([version("a.txt", ["Bericht aus Wien"])])
    for path in tmp_path.glob("keyword-k.*"):  # another process drops the build, then builds it again
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert held.search("Bericht", 5) == []  # gone: nothing found, no failure
    KeywordIndex(tmp_path / "keyword-k.sqlite3").add([version("b.txt", ["Bericht aus Graz"])])
    assert held.search("Bericht", 5) == []  # not the new postings, whose rowids would name this file's rows
    assert [cid.split("#")[0] for cid, _ in db.keyword_index("k").search("Bericht", 5)] == ["b.txt"]


# what a keyword file of the search file's first version held: passages and their owners, no read copy
OLD_KEYWORD_FILE = """
CREATE VIRTUAL TABLE passages USING fts5(terms, chunk_id UNINDEXED, article_id UNINDEXED, content_hash UNINDEXED);
CREATE TABLE owners (rowid INTEGER PRIMARY KEY, article_id TEXT NOT NULL, content_hash TEXT NOT NULL);
CREATE TABLE state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO owners VALUES (1, 'alt.txt', 'h');
"""


@pytest.mark.parametrize("harm", ["damaged", "deleted", "older version"])
def test_a_damaged_lost_or_older_keyword_file_is_built_again_from_the_index(tmp_path, harm):
    import json
    import sqlite3
    import subprocess
    import sys

    from conftest import REPO, make_settings
    from ingest.sync import sync
    from rag.keyword import KeywordIndex

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "kinder.txt").write_text("Schulen in Graz\n\nDie Stadt nimmt mehr Kinder von Flüchtlingen auf.", "utf-8")
    settings = make_settings(tmp_path / "ix")
    sync([corpus], settings)
    (keyword_file,) = settings.index_dir.glob("keyword-*.sqlite3")
    for part in settings.index_dir.glob(keyword_file.name + "-*"):
        part.unlink()
    keyword_file.unlink()
    if harm == "damaged":
        keyword_file.write_bytes(b"\x13 not a database " * 10)
    elif harm == "older version":
        from rag.terms import index_terms

        with sqlite3.connect(keyword_file) as old:  # a stale passage that the search would find if it were kept
            old.executescript(OLD_KEYWORD_FILE)
            old.execute("INSERT INTO passages VALUES (?, 'alt.txt#0', 'alt.txt', 'h')",
                        (" ".join(index_terms("Flüchtlingskinder")),))
    # a new process (this one keeps its connection to the old file)
    p = subprocess.run([sys.executable, "-m", "rag", "search", "Flüchtlingskinder", "--json", "--index",
                        str(settings.index_dir)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert json.loads(p.stdout)[0]["article_id"] == "kinder.txt"
    assert ("moved to" in p.stderr) == (harm == "damaged")
    found = KeywordIndex(keyword_file).search("Flüchtlingskinder", 5)
    assert [cid.split("#")[0] for cid, _ in found] == ["kinder.txt"]  # nothing of the older file is left


def test_the_keyword_side_counts_inside_a_filter_however_many_better_matches_lie_outside(tmp_path):
    import json

    from conftest import make_settings
    from ingest.sync import sync
    from rag import Retriever
    from rag.filters import SearchFilter

    corpus = tmp_path / "c"
    corpus.mkdir()
    zoo = "Der Zoo {} meldet ein Zebrafohlen. Das Zebrafohlen ist wohlauf, Besucher sehen das Zebrafohlen ab Juni."
    records = [{"id": f"dpa-{i}", "title": f"Nachwuchs {i}", "date": "2024-05-01", "source": "dpa",
                "text": zoo.format(f"Nummer {i}")} for i in range(34)]
    records.append({"id": "apa-zoo", "title": "Tiergarten", "date": "2025-05-01", "source": "APA",
                    "text": "Im Tiergarten Schönbrunn kam ein Zebrafohlen zur Welt. Es trinkt schon selbst."})
    records.append({"id": "apa-wetter", "title": "Wetter", "date": "2025-05-01", "source": "APA",
                    "text": "Am Wochenende wird es in Wien sonnig und warm."})
    (corpus / "zoo.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    settings = make_settings(tmp_path / "ix")
    sync([corpus], settings)
    retriever = Retriever(settings)
    assert not any(cid.startswith("apa-zoo") for cid, _ in retriever.store.keyword_matches("Zebrafohlen", 30))
    hits = retriever.search("Zebrafohlen", k=2, filters=SearchFilter(agencies=("APA",)))
    assert hits[0].article.article_id == "apa-zoo"
    # found by both sides: the best fused score, not the dense side's share alone (0.55)
    assert hits[0].score == pytest.approx(1.0)


def test_a_pasted_article_as_question_is_searched_by_its_beginning(retriever):
    from dataclasses import replace

    from rag.retriever import MAX_QUERY_CHARS

    long = "Wo traf Kim Jong-un den russischen Außenminister? " + "Dazu kommen viele weitere Worte. " * 200
    embedded = []
    view = retriever.view()
    original = view.query_vectors

    class Recording:  # the view's cached embedding, recording what it is asked to embed
        def __call__(self, text):
            embedded.append(text)
            return original(text)

    hits = retriever.search(long, k=1, view=replace(view, query_vectors=Recording()))
    assert embedded and all(len(t) <= MAX_QUERY_CHARS for t in embedded)
    assert hits[0].article.article_id == SEED.name
