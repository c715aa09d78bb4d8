"""The command line as a user types it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from pagerunner.simulator import Fault
from tests.conftest import free_port

from .conftest import App, process_env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pagerunner", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_run_without_a_server_starts_one_and_exits_0(tmp_path: Path) -> None:
    env = process_env(tmp_path / "p.db", page_delay_s="0")
    result = cli("run", "demo", "-p", "q=coffee total:45", "-p", "location=Austin, TX", env=env)
    assert result.returncode == 0, result.stderr
    assert "completed: 3 pages, 45 new records" in result.stderr


def test_run_rejects_a_malformed_param() -> None:
    result = cli("run", "demo", "-p", "q")
    assert result.returncode == 2
    assert "expected key=value" in result.stderr


async def test_run_against_a_server_reports_a_pause_and_queries_commands(app: App) -> None:
    api = ["--api-url", str(app.api.base_url).rstrip("/")]
    app.sim.add_fault(Fault(kind="rate_limit", times=1, after=1, retry_after_s=900))
    paused = await acli("run", "demo", "-p", "q=tea total:60", *api)
    assert paused.returncode == 2, paused.stderr
    said = " ".join(paused.stderr.split())  # the console wraps long lines
    assert "paused" in said and "when to resume: automatically at" in said
    assert "(pagerunner queries resume " in said
    listed = await acli("queries", "list", "--status", "paused", *api)
    assert listed.returncode == 0 and "1 of 1" in listed.stderr
    (query,) = (await app.api.get("/api/queries")).json()["items"]
    resumed = await acli("queries", "resume", query["id"], *api)
    assert resumed.returncode == 0 and f"{query['id']}: pending" in resumed.stdout
    await app.until(query["id"], {"completed"})
    shown = json.loads((await acli("queries", "show", query["id"], *api)).stdout)
    assert shown["status"] == "completed" and shown["records_inserted"] == 60
    exported = await acli("export", query["id"], "--format", "ndjson", *api)
    ids = [json.loads(line)["data"]["id"] for line in exported.stdout.splitlines()]
    assert ids == app.expected_ids("tea total:60")
    wrong = await acli("queries", "resume", query["id"], *api)
    assert wrong.returncode == 1 and "409" in wrong.stderr


async def acli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess without blocking this loop (the app under test runs on it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pagerunner",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


def test_commands_say_when_no_server_answers() -> None:
    result = cli("queries", "list", "--api-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "no pagerunner answering" in result.stderr


async def test_combos_from_the_command_line(app: App) -> None:
    api = ["--api-url", str(app.api.base_url).rstrip("/")]
    created = await acli(
        "combos",
        "run",
        "demo",
        "-p",
        "q=a total:20",
        "-p",
        "q=b total:20",
        "-p",
        "location=X",
        *api,
    )
    assert created.returncode == 0, created.stderr
    combo_id = created.stdout.split()[1].rstrip(":")
    assert created.stdout.strip().endswith("2 queries")
    for query in (await app.api.get("/api/queries")).json()["items"]:
        await app.until(query["id"], {"completed"})
    shown = await acli("combos", "show", combo_id, "--as-json", *api)
    combo = json.loads(shown.stdout)
    assert combo["status"] == "completed" and combo["distinct_records"] == 40


async def test_run_and_combos_pass_on_a_webhook_and_a_destination(app: App) -> None:
    """The API's checks answer: a loopback webhook (private addresses are not allowed
    here) and a destination holding a password are refused, naming the field."""
    api = ["--api-url", str(app.api.base_url).rstrip("/")]
    hook = await acli("run", "demo", "-p", "q=x", "--webhook", "http://127.0.0.1:9/hook", *api)
    assert hook.returncode == 1 and "webhook" in hook.stderr
    secret = "postgresql://u:hunter2@db.example/leads"
    deliver = await acli("combos", "run", "demo", "-p", "q=a", "--deliver", secret, *api)
    assert deliver.returncode != 0 and "deliver" in deliver.stderr + deliver.stdout
    assert "hunter2" not in deliver.stderr + deliver.stdout
    assert (await app.api.get("/api/queries")).json()["items"] == []  # nothing was created
