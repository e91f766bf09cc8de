"""Shared fixtures: a real index (real Chroma, the real packaged model) of the seed plus a few 10kGNAD articles."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from chroma_server import chroma_server, free_port  # noqa: F401 - the tests import both from here

from rag.config import Settings, prepare_environment

prepare_environment()

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED = REPO / "corpus" / "000_717496cbf72b2f1d.txt"
GNAD_CSV = SHARED / "corpora" / "10kgnad" / "test.csv"
N_GNAD = 12


def gnad_rows(n: int) -> list[tuple[str, str]]:
    """The first `n` (section, text) rows of 10kGNAD's test split; skips the test when ../shared is absent."""
    if not GNAD_CSV.exists():
        pytest.skip(f"{GNAD_CSV} is absent (the shared data folder beside the repo)")
    with GNAD_CSV.open(encoding="utf-8") as f:
        return [(row[0], row[1]) for _, row in zip(range(n), csv.reader(f, delimiter=";", quotechar="'"))]


def make_settings(index_dir: Path, **overrides) -> Settings:
    """Settings isolated from the developer's shell and .env."""
    values = {"index_dir": index_dir, "llm_base_url": None, "llm_api_key": None} | overrides
    return Settings(_env_file=None, **values)


@pytest.fixture(params=["local", "chroma-server"])
def index_place(request, tmp_path):
    """`place(machine, **overrides)` → the settings of a process on `machine` using one index: a local index folder
    (every machine the same one), or a real Chroma server (each machine its own folder, sharing only the server)."""
    if request.param == "local":
        yield lambda machine, **overrides: make_settings(tmp_path / "index", **overrides)
        return
    with chroma_server(tmp_path) as url:
        yield lambda machine, **overrides: make_settings(tmp_path / machine, chroma_url=url, **overrides)


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """The seed article and two 10kGNAD articles."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    for i, (_, text) in enumerate(gnad_rows(2)):
        (folder / f"gnad_{i}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def news_corpus(tmp_path_factory) -> Path:
    """The seed article and the first 12 10kGNAD articles, one .txt file each."""
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copy(SEED, folder / SEED.name)
    for i, (_, text) in enumerate(gnad_rows(N_GNAD)):
        (folder / f"gnad_{i:04d}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def indexed(settings, news_corpus):
    """The sync report of indexing `news_corpus` into `settings.index_dir`."""
    from ingest.sync import sync

    return sync([news_corpus], settings)


@pytest.fixture(scope="session")
def retriever(settings, indexed):
    from rag import Retriever

    return Retriever(settings)


@pytest.fixture(scope="session")
def answerer(retriever):
    from rag import Answerer

    return Answerer(retriever)
