"""The HTTP API served with the page (rag.http_api), over real HTTP: our own endpoints with httpx, the
OpenAI-compatible one with the real `openai` client (plain and streamed), the OpenAPI schema."""
from __future__ import annotations

import json
import shutil

import httpx
import openai
import pytest
from conftest import SEED, free_port, make_settings
from openai_server import FakeOpenAIServer

QUESTION = "Wie viele Pioniere will Nordkorea nach Kursk schicken?"


@pytest.fixture(scope="module")
def served(answerer):
    from app import launch

    page = launch(answerer, port=free_port(), block=False)
    yield page.url
    page.close()


@pytest.fixture(scope="module")
def llm_served(settings, indexed):
    """The same index answered through a (scripted) language model."""
    from app import launch
    from rag import Answerer, Retriever

    with FakeOpenAIServer() as llm:
        llm.reply = "Nordkorea will rund 6.000 Pioniere nach Kursk schicken [1]."
        s = settings.model_copy(update={"llm_base_url": llm.url, "llm_timeout": 20})
        page = launch(Answerer(Retriever(s), s), port=free_port(), block=False)
        yield page.url, llm
        page.close()


def test_search_returns_the_cli_shape(served, retriever):
    got = httpx.get(served + "api/search", params={"q": "Lawrow Wonsan", "k": 3}, timeout=60)
    assert got.status_code == 200
    assert got.json() == [h.to_json() for h in retriever.search("Lawrow Wonsan", k=3)]
    assert got.json()[0]["source"].endswith(SEED.name)


def test_ask_answers_with_citations_and_refuses_what_the_articles_do_not_say(served):
    got = httpx.post(served + "api/ask", json={"question": QUESTION}, timeout=60).json()
    assert got["answerable"] and got["mode"] == "extractive" and "6.000" in got["answer"]
    assert got["citations"][0]["article_id"] == SEED.name and "6.000" in got["citations"][0]["quote"]
    refused = httpx.post(served + "api/ask", json={"question": "Wie backe ich einen Apfelstrudel?"}, timeout=60).json()
    assert not refused["answerable"] and refused["citations"] == []
    filtered = httpx.post(served + "api/ask", json={"question": QUESTION, "date_from": "2026-01"}, timeout=60).json()
    assert not filtered["answerable"]  # the seed is from July 2025


@pytest.mark.parametrize(
    "method, path, payload",
    [("get", "api/search", {"params": {"q": ""}}), ("get", "api/search", {"params": {"q": "x", "k": 0}}),
     ("post", "api/ask", {"json": {"question": QUESTION, "date_from": "Juli"}}), ("post", "api/ask", {"json": {}})],
)
def test_bad_requests_get_422_with_a_reason(served, method, path, payload):
    got = getattr(httpx, method)(served + path, timeout=60, **payload)
    assert got.status_code == 422 and got.json()["detail"]


@pytest.mark.parametrize(
    "messages, reason",
    [([{"role": "system", "content": "x"}], "no user message with text"), ([{"content": "x"}], "messages.0.role: Field required"),
     ("Hallo", "messages: Input should be a valid list")],
)
def test_openai_clients_get_bad_requests_explained_in_openai_s_error_shape(served, messages, reason):
    client = openai.OpenAI(base_url=served + "v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.chat.completions.create(model="newsrag", messages=messages)
    assert refused.value.body == {"message": reason, "type": "invalid_request_error", "param": None, "code": None}
    with pytest.raises(openai.NotFoundError, match="Not Found"):
        client.completions.create(model="newsrag", prompt="x")  # an endpoint we do not have


def test_openai_client_gets_the_answer_and_its_citations(served):
    client = openai.OpenAI(base_url=served + "v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(model="newsrag", messages=[{"role": "user", "content": QUESTION}])
    content = completion.choices[0].message.content
    assert "6.000" in content and "[1]" in content and completion.choices[0].finish_reason == "stop"
    citations = completion.model_extra["citations"]
    assert citations[0]["n"] == 1 and citations[0]["article_id"] == SEED.name
    assert [m.id for m in client.models.list()] == ["newsrag"]
    assert completion.usage.total_tokens == 0  # no language model: no tokens


def test_earlier_user_messages_are_the_conversation_a_follow_up_continues(served):
    client = openai.OpenAI(base_url=served + "v1", api_key="unused", max_retries=0)
    follow_up = [{"role": "user", "content": [{"type": "text", "text": "Und wie viele Bauarbeiter?"}]}]
    alone = client.chat.completions.create(model="newsrag", messages=follow_up)
    assert not alone.model_extra["answerable"]  # on its own the question says too little
    completion = client.chat.completions.create(model="newsrag", messages=[
        {"role": "system", "content": "Antworte kurz."},
        {"role": "user", "content": "Wie viele nordkoreanische Soldaten wurden nach Russland verlegt?"},
        {"role": "assistant", "content": "Mehr als 10.000 [1]."},
        *follow_up,
    ])
    assert completion.model_extra["answerable"] and "Bauarbeiter" in completion.choices[0].message.content


def test_streamed_completion_adds_up_to_the_plain_one(llm_served):
    client = openai.OpenAI(base_url=llm_served[0] + "v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    plain = client.chat.completions.create(model="newsrag", messages=messages)
    chunks = list(client.chat.completions.create(model="newsrag", messages=messages, stream=True))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 3  # it really streams
    assert "".join(deltas) == plain.choices[0].message.content
    assert plain.choices[0].message.content.startswith("Nordkorea will rund 6.000 Pioniere nach Kursk schicken [1].")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"][0]["article_id"] == SEED.name
    assert plain.model_extra["citations"] == chunks[-1].model_extra["citations"]


def test_token_usage_is_what_the_language_model_reported(llm_served):
    url, llm = llm_served
    client = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0)
    conversation = [{"role": "user", "content": "Wie viele Soldaten schickt Nordkorea nach Russland?"},
                    {"role": "user", "content": "Und wie viele Pioniere?"}]

    def reported_while(call):
        before, scripted = len(llm.reported), llm.reply
        llm.reply = "Wie viele Pioniere will Nordkorea nach Kursk schicken?"  # serves as the rewrite and the answer
        try:
            result = call()
        finally:
            llm.reply = scripted
        return result, {k: sum(r[k] for r in llm.reported[before:]) for k in llm.reported[-1]}, len(llm.reported) - before

    plain, reported, requests = reported_while(lambda: client.chat.completions.create(model="newsrag", messages=conversation))
    assert requests == 2  # the follow-up's rewrite, then the answer
    assert plain.usage.model_dump(exclude_none=True) == reported and reported["prompt_tokens"] > 0

    chunks, reported, requests = reported_while(lambda: list(client.chat.completions.create(
        model="newsrag", messages=conversation, stream=True, stream_options={"include_usage": True})))
    assert llm.requests[-1]["body"]["stream_options"] == {"include_usage": True}  # asked of the model's server too
    assert requests == 2 and chunks[-1].choices == [] and chunks[-1].usage.model_dump(exclude_none=True) == reported
    assert all(c.usage is None for c in chunks[:-1]) and chunks[-2].choices[0].finish_reason == "stop"
    unasked = list(client.chat.completions.create(model="newsrag", messages=conversation, stream=True))
    assert all(c.usage is None and c.choices for c in unasked)


@pytest.mark.parametrize(
    "behaviour, reply, ending",
    [("break", "Nordkorea will viele Pioniere schicken [1].", "Die Artikel sagen dazu (wörtlich zitiert):"),
     ("answer", "Dazu steht in den Artikeln NOT_IN_SOURCES", "Die vorliegenden Artikel beantworten diese Frage")],
)
def test_a_stream_whose_answer_is_replaced_goes_on_with_the_new_one_in_full(llm_served, behaviour, reply, ending):
    url, llm = llm_served
    client = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0)
    llm.behaviour, llm.reply, before = behaviour, reply, (llm.behaviour, llm.reply)
    try:
        chunks = list(client.chat.completions.create(model="newsrag", messages=[{"role": "user", "content": QUESTION}],
                                                     stream=True))
    finally:
        llm.behaviour, llm.reply = before
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    first, _, rest = streamed.partition("\n\n")
    assert first and reply.startswith(first)  # what the model said before it failed or refused stays
    assert "NOT_IN" not in streamed  # not even the beginning of the "not answerable" sentinel
    final = chunks[-1].model_extra
    assert rest.startswith(ending) or rest.startswith(final["notice"] + "\n" + ending)
    if behaviour == "break":  # the extractive answer, saying why, with its citations
        assert "Sprachmodell war nicht verfügbar" in final["notice"] and "6.000" in rest
        assert final["answerable"] and final["citations"][0]["article_id"] == SEED.name
    else:
        assert not final["answerable"] and final["citations"] == []
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openapi_schema_documents_every_endpoint_and_matches_the_replies(served):
    schema = httpx.get(served + "api/openapi.json", timeout=60).json()
    assert {"/api/search", "/api/ask", "/api/ingest", "/v1/chat/completions", "/v1/models"} <= set(schema["paths"])
    parts = schema["components"]["schemas"]
    answer = httpx.post(served + "api/ask", json={"question": QUESTION}, timeout=60).json()
    assert set(answer) == set(parts["AnswerOut"]["properties"])
    assert set(answer["citations"][0]) == set(parts["CitationOut"]["properties"])
    assert {"citations", "answerable", "notice"} <= set(parts["ChatOut"]["properties"])
    assert httpx.get(served + "api/docs", timeout=60).status_code == 200
    assert "gradio" in httpx.get(served, timeout=60).text.lower()  # the page is mounted on the same server


def test_ingest_over_http_indexes_files_and_needs_auth_once_it_is_on(tmp_path):
    from app import launch
    from rag import Answerer, Retriever

    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    open_settings = make_settings(tmp_path / "index")
    page = launch(Answerer(Retriever(open_settings), open_settings), port=free_port(), block=False)
    try:
        empty = httpx.get(page.url + "api/search", params={"q": "Kim"}, timeout=60)
        assert empty.status_code == 503 and "python -m ingest" in empty.json()["detail"]
        chat = {"model": "newsrag", "stream": True, "messages": [{"role": "user", "content": "Kim?"}]}
        streamed = httpx.post(page.url + "v1/chat/completions", json=chat, timeout=60)
        assert streamed.status_code == 503 and "python -m ingest" in streamed.json()["error"]["message"]
        # without RAG_AUTH, only who can read the page's token (its own user) may have it index files
        token = json.loads((tmp_path / "index" / "page.json").read_text("utf-8"))["token"]
        for wrong in ({}, {"authorization": "Bearer guessed"}, {"authorization": "Bearer Schlüssel".encode("latin-1")}):
            refused = httpx.post(page.url + "api/ingest", json={"paths": [str(folder)]}, headers=wrong, timeout=60)
            assert refused.status_code == 403 and "page.json" in refused.json()["detail"]
        bearer = {"authorization": f"Bearer {token}"}
        report = httpx.post(page.url + "api/ingest", json={"paths": [str(folder)]}, headers=bearer, timeout=120).json()
        assert report["added"] == 1 and report["articles_total"] == 1
        assert httpx.post(page.url + "api/ingest", json={"paths": []}, headers=bearer, timeout=60).status_code == 422
    finally:
        page.close()

    locked = open_settings.model_copy(update={"auth": "leser:geheim"})
    page = launch(Answerer(Retriever(locked), locked), port=free_port(), block=False)
    try:
        for path, kwargs in (("api/ingest", {"json": {"paths": [str(folder)]}}), ("api/search", {"params": {"q": "Kim"}})):
            method = httpx.post if path == "api/ingest" else httpx.get
            assert method(page.url + path, timeout=60, **kwargs).status_code == 401
            assert method(page.url + path, timeout=60, auth=("leser", "falsch"), **kwargs).status_code == 401
            assert method(page.url + path, timeout=120, auth=("leser", "geheim"), **kwargs).status_code == 200
        client = openai.OpenAI(base_url=page.url + "v1", api_key="geheim", max_retries=0)  # the password as key
        assert client.chat.completions.create(model="newsrag", messages=[{"role": "user", "content": QUESTION}]).choices
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=page.url + "v1", api_key="falsch", max_retries=0).models.list()
    finally:
        page.close()
