"""Retrieval and cited answers over German news articles.

>>> from rag import Answerer, Retriever
>>> Retriever().search("Kim Jong-un Lawrow", k=3)
>>> Answerer().answer("Wie viele Pioniere will Nordkorea nach Kursk schicken?").text
"""
from rag.config import Settings, get_settings, prepare_environment

prepare_environment()

from rag.answer import Answerer  # noqa: E402  (the environment must be prepared before the libraries load)
from rag.retriever import Retriever  # noqa: E402
from rag.schema import Answer, Article, Chunk, Citation, Hit  # noqa: E402

__all__ = ["Answer", "Answerer", "Article", "Chunk", "Citation", "Hit", "Retriever", "Settings", "get_settings"]


def __getattr__(name: str):
    # The LangChain adapter is imported on demand so that plain users do not pay for langchain-core.
    if name == "NewsRetriever":
        from rag.langchain_retriever import NewsRetriever

        return NewsRetriever
    raise AttributeError(name)
