"""A LangChain `BaseRetriever` over the same retrieval, for apps built on LangChain."""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.retriever import Retriever
from rag.schema import Hit


def hit_to_document(hit: Hit) -> Document:
    """A hit as a LangChain document: the passage as content, the article and score as metadata."""
    a = hit.article
    return Document(
        page_content=hit.chunk.text,
        id=hit.chunk.chunk_id,
        metadata={
            "article_id": a.article_id,
            "title": a.title,
            "date": a.date,
            "source": a.source,
            "agency": a.agency,
            "url": a.url,
            "start": hit.chunk.start,
            "end": hit.chunk.end,
            "score": hit.score,
            "rank": hit.rank,
        },
    )


class NewsRetriever(BaseRetriever):
    """`NewsRetriever(k=4).invoke("Wer traf Lawrow?")` → list of `Document`s, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever | None = None
    k: int | None = None

    def model_post_init(self, context: Any) -> None:
        if self.retriever is None:
            self.retriever = Retriever()

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit_to_document(h) for h in self.retriever.search(query, k=self.k)]
