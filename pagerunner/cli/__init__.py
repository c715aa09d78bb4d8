"""The `pagerunner` command line (typer): the root command, assembled from its groups.

One module per command group: `queries` (serve, run, queries …), `export`,
`combos`, `schedules`, `sources`, `executor` (executor, demo-api). What they share lives in
`common`; groups import `common`, never each other nor this module.
Commands wrap async code with `asyncio.run`.
"""

from __future__ import annotations

import typer

from . import combos, executor, export, queries, schedules, sources

__all__ = ["app", "main"]

app = typer.Typer(
    name="pagerunner",
    help="Durable fetching of paginated search APIs, on the Inngest SDK.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """pagerunner: every page of every query, fetched durably in the background."""


app.command()(executor.executor)
app.command("demo-api")(executor.demo_api)
app.command()(queries.serve)
app.command()(queries.run)
app.command()(export.export)
app.add_typer(queries.queries_app, name="queries")
app.add_typer(combos.combos_app, name="combos")
app.add_typer(schedules.schedules_app, name="schedules")
app.add_typer(sources.sources_app, name="sources")


def main() -> None:
    app()
