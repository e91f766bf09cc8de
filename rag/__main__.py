"""`python -m rag search|ask …`: the command-line face of the retriever and the answerer."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from rag.config import Settings, get_settings, prepare_environment

prepare_environment()


def _settings(index_dir: Path | None) -> Settings:
    settings = get_settings()
    return settings.model_copy(update={"index_dir": index_dir}) if index_dir else settings


def _inputs(arg: str) -> Iterator[str]:
    """The argument itself, or each input line when it is `-` (a blank one too: output line n answers input line n)."""
    if arg != "-":
        yield arg
        return
    for line in sys.stdin:
        yield line.strip()


def _run(arg: str, handle: Callable[[str], None]) -> None:
    from rag.store import IndexUnavailable

    try:
        for text in _inputs(arg):
            handle(text)
            sys.stdout.flush()  # one result per input line, as soon as it is ready
    except IndexUnavailable as e:
        raise click.ClickException(str(e)) from None


index_option = click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default: RAG_INDEX_DIR)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (one line per query).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Search the indexed news articles and answer questions with citations."""


@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Number of passages (default: RAG_TOP_K).")
@index_option
@json_option
def search(query: str, k: int | None, index_dir: Path | None, as_json: bool) -> None:
    """Show the passages that best match QUERY (`-` reads one query per stdin line)."""
    from rag.retriever import Retriever

    retriever = Retriever(_settings(index_dir))

    def handle(q: str) -> None:
        hits = retriever.search(q, k=k)
        if as_json:
            click.echo(json.dumps([h.to_json() for h in hits], ensure_ascii=False))
            return
        if not hits:
            click.echo("no passages found")
        for h in hits:
            a = h.article
            click.echo(f"{h.rank}. [{h.score:.3f}] {a.title} ({a.date or 'undated'}, {a.agency or a.source})")
            click.echo("   " + h.chunk.text.replace("\n", " ")[:300])
            if h.also:
                click.echo("   also reported by: " + ", ".join(f"{o.agency or o.source} ({o.date or 'undated'})" for o in h.also))

    _run(query, handle)


@cli.command()
@click.argument("question")
@index_option
@json_option
def ask(question: str, index_dir: Path | None, as_json: bool) -> None:
    """Answer QUESTION from the articles, citing them (`-` reads one question per stdin line)."""
    from rag.answer import Answerer

    answerer = Answerer(settings=_settings(index_dir))

    def handle(q: str) -> None:
        answer = answerer.answer(q)
        if as_json:
            click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
            return
        if answer.notice:
            click.echo(answer.notice, err=True)
        click.echo(answer.text)
        for c in answer.citations:
            a = c.hit.article
            click.echo(f"  [{c.n}] {a.title} ({a.date or 'undated'}, {a.agency}) {a.source}")

    _run(question, handle)


if __name__ == "__main__":
    cli()
