"""`pagerunner serve` in one process: app, embedded executor and simulated provider.

Which parts run depends on `Settings`: the executor only for the embedded
engine when no `executor_url` names one in another process (with a real
Inngest, the app just serves `/api/inngest` for it), the simulated provider
unless `--no-demo`. With a token, the app and the executor sign their calls.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import structlog
from fastapi import FastAPI

from .api.services import Services
from .app import create_app
from .executor import Backoff, Executor, ExecutorConfig, running_executor, serve_http
from .queries.migrate import migrate
from .settings import Settings
from .simulator import Simulator, SimulatorConfig

__all__ = ["Runtime", "running_pagerunner"]

log = structlog.get_logger("pagerunner")


@dataclass
class Runtime:
    settings: Settings
    app: FastAPI
    executor: Executor | None
    simulator: Simulator | None

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services


@contextlib.asynccontextmanager
async def running_pagerunner(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> AsyncIterator[Runtime]:
    """Start every part; on exit stop them in reverse order (pages in flight may finish).

    `clock` is what time it is for cron triggers and schedules (tests move it).

    Raises `ValueError` before starting anything if the settings would expose the
    API beyond the loopback interface without a token.
    """
    settings.check_exposure()
    await migrate(settings.db)
    app = create_app(settings)
    app.state.schedules.clock = clock
    services: Services = app.state.services
    local_origin = f"http://127.0.0.1:{settings.port}"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(services.sources.aclose)
        stack.push_async_callback(services.store.close)
        simulator = None
        if settings.demo:
            simulator = Simulator(
                SimulatorConfig(
                    api_keys=(services.sources.credentials("demo").get("api_key", "demo-key"),)
                )
            )
            await stack.enter_async_context(
                serve_http(simulator.app, host="127.0.0.1", port=settings.demo_port)
            )
        executor = None
        if settings.embeds_executor:
            keys = settings.signed_keys
            config = ExecutorConfig(
                db_url=settings.db,
                app_urls=(f"{local_origin}/api/inngest",),
                backoff=Backoff(base_s=settings.retry_base_s),
                api_token=settings.token,
                signing_key=keys.signing_key if keys else None,
                event_key=keys.event_key if keys else None,
                secure_cookies=settings.secure_cookies,
                session_ttl_s=settings.session_ttl_s,
                clock=clock,
            )
            executor = await stack.enter_async_context(
                running_executor(
                    config,
                    port=settings.executor_port,
                    asgi_apps={local_origin: app.state.engine_app},
                )
            )
        await stack.enter_async_context(serve_http(app, host=settings.host, port=settings.port))
        stack.push_async_callback(services.drain)  # sends in flight finish before the engine stops
        rescheduled = await services.reschedule_pending()
        log.info(
            "pagerunner_started",
            app=settings.app_origin,
            engine=settings.engine,
            executor=settings.executor_origin if executor else None,
            demo=settings.demo_origin if simulator else None,
            rescheduled=rescheduled,
        )
        yield Runtime(settings=settings, app=app, executor=executor, simulator=simulator)
