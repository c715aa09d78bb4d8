"""`pagerunner executor` and `pagerunner demo-api`: the standalone servers.

`executor` runs the Inngest-compatible executor alone (apps elsewhere point at
it); `demo-api` runs the simulated provider API alone.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..executor import Backoff, ExecutorConfig, Limits, running_executor, serve_http
from ..logging import configure_logging
from ..settings import signed_mode_keys
from ..simulator import Simulator, SimulatorConfig
from .common import LogLevel, run_server, stop_signals

__all__ = ["demo_api", "executor"]


def _limit(name: str, help_text: str) -> Any:
    """An option for one of Inngest's limits (defaults: Inngest's values), also from the
    environment as PAGERUNNER_EXECUTOR_<NAME>."""
    return typer.Option(envvar=f"PAGERUNNER_EXECUTOR_{name}", help=help_text, min=1)


def executor(
    port: Annotated[int, typer.Option(help="Port of the executor API.", min=1, max=65535)] = 8288,
    host: Annotated[
        str, typer.Option(help="Interface to bind. Keep 127.0.0.1 unless you sign requests.")
    ] = "127.0.0.1",
    db: Annotated[
        str,
        typer.Option(
            envvar="PAGERUNNER_EXECUTOR_DB",
            help="Database URL (sqlite:///file.db, postgresql://...) or a SQLite file path.",
        ),
    ] = "pagerunner.db",
    app_url: Annotated[
        list[str] | None,
        typer.Option(
            "-u", "--app-url", help="URL of an app's Inngest endpoint to sync (repeatable)."
        ),
    ] = None,
    signing_key: Annotated[
        str | None,
        typer.Option(
            envvar=["PAGERUNNER_SIGNING_KEY", "INNGEST_SIGNING_KEY"],
            help="Sign calls and check app signatures (prefer the env var: flags show in `ps`).",
            show_default=False,
        ),
    ] = None,
    event_key: Annotated[
        str | None,
        typer.Option(
            envvar=["PAGERUNNER_EVENT_KEY", "INNGEST_EVENT_KEY"],
            help="Accept events only at /e/<this key>.",
            show_default=False,
        ),
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option(
            envvar="PAGERUNNER_API_TOKEN",
            help="Require this token for the dashboard and the REST API (prefer the env var).",
            show_default=False,
        ),
    ] = None,
    retry_schedule: Annotated[
        str,
        typer.Option(
            help="'exponential' (seconds, for local work) or 'inngest' (15 s, 30 s, ...)."
        ),
    ] = "exponential",
    max_inflight: Annotated[int, typer.Option(help="Calls to apps at once.", min=1)] = 32,
    retention_days: Annotated[
        float, typer.Option(help="Keep finished runs and their events this long.", min=0.01)
    ] = 7.0,
    max_event_bytes: Annotated[
        int, _limit("MAX_EVENT_BYTES", "Largest event /e/ takes (Inngest: 3 MiB, free 256 KiB).")
    ] = Limits.max_event_bytes,
    max_batch_bytes: Annotated[
        int, _limit("MAX_BATCH_BYTES", "Largest request of events /e/ takes.")
    ] = Limits.max_batch_bytes,
    max_steps: Annotated[
        int, _limit("MAX_STEPS", "Step results a run may hold; the next call fails it.")
    ] = Limits.max_steps,
    max_step_output_bytes: Annotated[
        int, _limit("MAX_STEP_OUTPUT_BYTES", "Largest result of one step.")
    ] = Limits.max_step_output_bytes,
    max_state_bytes: Annotated[
        int, _limit("MAX_STATE_BYTES", "Largest state of a run: its events and step results.")
    ] = Limits.max_state_bytes,
    log_level: LogLevel = "info",
) -> None:
    """Run the Inngest-compatible executor: point apps at it with INNGEST_DEV=http://HOST:PORT."""
    configure_logging(log_level)
    if retry_schedule not in ("exponential", "inngest"):
        raise typer.BadParameter(
            "must be 'exponential' or 'inngest'", param_hint="--retry-schedule"
        )
    if host not in ("127.0.0.1", "localhost", "::1") and not api_token:
        raise typer.BadParameter(
            "binding beyond loopback needs an API token (PAGERUNNER_API_TOKEN)",
            param_hint="--host",
        )
    if api_token:  # signed mode: keys not given are the ones `serve` derives from the token
        derived = signed_mode_keys(api_token)
        signing_key = signing_key or derived.signing_key
        event_key = event_key or derived.event_key
    config = ExecutorConfig(
        db_url=db,
        app_urls=tuple(app_url or ()),
        signing_key=signing_key,
        event_key=event_key,
        api_token=api_token,
        backoff=Backoff(schedule="inngest" if retry_schedule == "inngest" else "exponential"),
        max_inflight=max_inflight,
        retention_days=retention_days,
        limits=Limits(
            max_event_bytes=max_event_bytes,
            max_batch_bytes=max_batch_bytes,
            max_steps=max_steps,
            max_step_output_bytes=max_step_output_bytes,
            max_state_bytes=max_state_bytes,
        ),
    )
    run_server(_run_executor(config, host, port))


async def _run_executor(config: ExecutorConfig, host: str, port: int) -> None:
    async with stop_signals() as stop, running_executor(config, host=host, port=port):
        typer.echo(f"executor listening on http://{host}:{port} (Ctrl-C to stop)", err=True)
        await stop.wait()


def demo_api(
    port: Annotated[int, typer.Option(help="Port of the simulated API.", min=1, max=65535)] = 8099,
    host: Annotated[
        str, typer.Option(help="Interface to bind. /_admin/* has no authentication.")
    ] = "127.0.0.1",
    key: Annotated[
        list[str] | None,
        typer.Option(
            "-k",
            "--key",
            help="An accepted API key (repeatable).",
            show_default="demo-key",
        ),
    ] = None,
    page_size: Annotated[
        int, typer.Option(help="Results per page when a request does not say.", min=1, max=100)
    ] = 20,
    total: Annotated[
        int, typer.Option(help="Results per query without a total:N token in q.", min=0)
    ] = 95,
    latency: Annotated[
        float, typer.Option(help="Seconds added to every search answer.", min=0.0)
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the faults' random draws.")] = 0,
    admin: Annotated[
        bool, typer.Option("--admin/--no-admin", help="Serve /_admin/* (faults, limits, stats).")
    ] = True,
    log_level: LogLevel = "info",
) -> None:
    """Run the simulated provider API: paginated search with faults and limits on demand."""
    configure_logging(log_level)
    try:
        config = SimulatorConfig(
            api_keys=tuple(key or ("demo-key",)),
            page_size=page_size,
            total_results=total,
            latency_s=latency,
            seed=seed,
            admin=admin,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if admin and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo("warning: /_admin/* is open to anyone who can reach this host", err=True)
    run_server(_run_demo_api(config, host, port))


async def _run_demo_api(config: SimulatorConfig, host: str, port: int) -> None:
    simulator = Simulator(config)
    async with stop_signals() as stop, serve_http(simulator.app, host=host, port=port):
        typer.echo(
            f"simulated provider on http://{host}:{port}/v1/search (Ctrl-C to stop)", err=True
        )
        await stop.wait()
