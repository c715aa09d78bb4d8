"""Run an executor and its HTTP API inside the current asyncio loop.

`running_executor` is the embedding API: `pagerunner serve` uses it to run
the executor beside the app in one process, the CLI's `executor` command and
the tests use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import uvicorn

from .api import create_executor_app
from .config import ExecutorConfig
from .engine import Executor

__all__ = ["running_executor", "serve_http"]


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever owns the loop."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


@contextlib.asynccontextmanager
async def serve_http(
    app: Any, *, host: str, port: int, sock: socket.socket | None = None
) -> AsyncIterator[uvicorn.Server]:
    """Serve an ASGI app with uvicorn until the block exits."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock] if sock else None))
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error (e.g. port in use)
            raise RuntimeError(f"HTTP server on {host}:{port} stopped during start-up")
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running_executor(
    config: ExecutorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8288,
    asgi_apps: Mapping[str, Any] | None = None,
    sync_apps: bool = True,
) -> AsyncIterator[Executor]:
    """Start an executor with its HTTP API; stop both cleanly on exit."""
    executor = Executor(config, asgi_apps=asgi_apps)
    await executor.start()
    try:
        async with serve_http(create_executor_app(executor), host=host, port=port):
            if sync_apps:
                await executor.sync_configured_apps()
            # What start-up allocated lives as long as the process: keep it out of the
            # collector's full passes, which otherwise stall every step ~100 ms at times.
            gc.freeze()
            try:
                yield executor
            finally:
                gc.unfreeze()
    finally:
        await executor.stop()
