"""Chroma server mode (`RAG_CHROMA_URL`) against a real `chroma run` server: several "machines" (index folders that
share nothing but the server) see each other's writes on both the vector and the keyword side; the page and its
HTTP API run on the server too. The CLI contract on a server is in test_cli, a rebuild on a server in test_rebuild."""
from __future__ import annotations

import httpx
import pytest
from conftest import SEED, chroma_server, free_port, make_settings

NEW_ARTICLE = (
    "2025-08 Zwergpinguine brüten erstmals auf Helgoland\n\nVon: dpa\n\n"
    "Auf Helgoland haben Vogelkundler erstmals brütende Zwergpinguine gezählt. Die Pinguinkolonie umfasst nach "
    "Angaben der Vogelwarte sieben Paare, die aus einem Zoo entkommen sein sollen."
)


@pytest.fixture
def server(tmp_path):
    with chroma_server(tmp_path) as url:
        yield url


def keyword_ids(retriever, query: str) -> set[str]:
    """The articles the keyword side alone finds for `query`."""
    store = retriever.view().store
    return {c.article.article_id for c, _ in store.keyword_query(query, 10, retriever.query_vector(query))}


def test_keyword_side_of_every_machine_follows_the_writes_on_the_server(tmp_path, server, small_corpus):
    from ingest.sync import sync
    from rag import Retriever

    writer = make_settings(tmp_path / "machine-a", chroma_url=server)
    reader = Retriever(make_settings(tmp_path / "machine-b", chroma_url=server))  # shares only the server
    sync([small_corpus], writer)
    assert keyword_ids(reader, "Wonsan Lawrow") == {SEED.name}
    assert reader.search("Wie viele Pioniere schickt Nordkorea nach Kursk?")[0].article.article_id == SEED.name

    (small_corpus / "pinguine.txt").write_text(NEW_ARTICLE, encoding="utf-8")  # added
    (small_corpus / "pinguine-kopie.txt").write_text(NEW_ARTICLE.replace("sieben", "acht"), "utf-8")  # a copy
    seed_text = (small_corpus / SEED.name).read_text("utf-8")
    changed = seed_text.replace("Wonsan", "Hamhung").replace("APA/dpa/AFP", "APA/dpa/Reuters")
    (small_corpus / SEED.name).write_text(changed, encoding="utf-8")  # changed
    (small_corpus / "gnad_0.txt").unlink()  # removed
    report = sync([small_corpus], writer)
    assert (report.added, report.updated, report.removed) == (2, 1, 1)
    assert reader.view().store.agencies() == ["APA", "dpa", "Reuters"]  # what the page offers followed, unasked

    assert keyword_ids(reader, "Zwergpinguine Helgoland") == {"pinguine.txt", "pinguine-kopie.txt"}  # no restart
    assert keyword_ids(reader, "Hamhung") == {SEED.name} and keyword_ids(reader, "Wonsan") == set()
    assert reader.view().store.get_articles(["gnad_0.txt"]) == {}
    store_a = Retriever(writer).view().store
    store_b = reader.view().store
    assert store_b.keyword.count() == store_a.keyword.count() == store_a.counts()[1]  # one row per stored chunk
    # the near-duplicate copies were grouped after they were written: the reader's search file has the stories too
    stories = {aid: meta.get("story") or aid for aid, meta in store_a.manifest().items()}
    assert stories["pinguine-kopie.txt"] == stories["pinguine.txt"]
    seen = store_b.keyword.committed(store_a.chunks.get(include=[])["ids"]).values()
    assert {row.article.article_id: row.story for row in seen} == stories
    (hit,) = [h for h in reader.search("Zwergpinguine auf Helgoland", k=5) if "pinguine" in h.article.article_id]
    assert [a.article_id for a in hit.also] != []  # one hit for the story, naming its copy
    # grouped again with a threshold the copy does not reach: only the stories change, and the reader follows
    sync([small_corpus], make_settings(tmp_path / "machine-a", chroma_url=server, duplicate_threshold=1.0))
    assert all(h.also == () for h in reader.search("Zwergpinguine auf Helgoland", k=5))
    assert not list(tmp_path.glob("machine-*/**/chroma.sqlite3"))  # the machines hold keyword files, not the index


def test_page_and_http_api_serve_an_index_on_the_server(tmp_path, server, small_corpus):
    from app import launch
    from ingest.sync import sync
    from rag import Answerer, Retriever

    settings = make_settings(tmp_path / "machine-a", chroma_url=server, auth="leser:geheim")  # no page.json here
    sync([small_corpus], settings)
    page = launch(Answerer(Retriever(settings), settings), port=free_port(), block=False)
    login = ("leser", "geheim")
    try:
        hits = httpx.get(page.url + "api/search", params={"q": "Lawrow Wonsan", "k": 3}, auth=login, timeout=60).json()
        assert hits[0]["article_id"] == SEED.name
        for agencies, cited in ((["dpa"], {SEED.name}), (["Reuters"], set())):  # list metadata on a server too
            asked = httpx.post(page.url + "api/ask", json={"question": "Wen traf Kim in Wonsan?", "agencies": agencies},
                               auth=login, timeout=120).json()
            assert {c["article_id"] for c in asked["citations"]} == cited
        (small_corpus / "pinguine.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        done = httpx.post(page.url + "api/ingest", json={"paths": [str(small_corpus)]}, auth=login, timeout=300).json()
        assert done["added"] == 1 and done["articles_total"] == 4
    finally:
        page.close()
    other = Retriever(make_settings(tmp_path / "machine-b", chroma_url=server))
    assert other.search("Wie viele Zwergpinguine brüten auf Helgoland?")[0].article.article_id == "pinguine.txt"
    assert not (tmp_path / "machine-a" / "page.json").exists()  # no hand-over: every process writes to the server


def test_unreachable_server_and_bad_url_say_what_to_do(tmp_path):
    from pydantic import ValidationError

    from rag import Retriever
    from rag.store import IndexUnavailable

    port = free_port()  # nothing listens there
    with pytest.raises(IndexUnavailable, match=rf"cannot use the Chroma server at http://127.0.0.1:{port} .*chroma run"):
        Retriever(make_settings(tmp_path, chroma_url=f"http://127.0.0.1:{port}")).search("Kim")
    with pytest.raises(ValidationError, match="RAG_CHROMA_URL must look like http://host:port"):
        make_settings(tmp_path, chroma_url="127.0.0.1:8000")
