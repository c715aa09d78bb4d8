"""The sources this process knows, and the credentials each one uses.

Credentials come from `Settings` (environment variables), never from the
database or the query.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..settings import Settings
from .base import BadRequestError, Limits, Source
from .demo import DemoSource

__all__ = ["SourceRegistry"]


class SourceRegistry:
    def __init__(self, sources: Mapping[str, Source], credentials: Mapping[str, Mapping[str, str]]):
        self._sources = dict(sources)
        self._credentials = {k: dict(v) for k, v in credentials.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceRegistry:
        delay = settings.page_delay_s
        demo = DemoSource(
            settings.demo_origin,
            page_delay_s=1.0 if delay is None else delay,
            timeout_s=settings.source_timeout_s,
            limits=Limits(
                per_second=settings.demo_rate_per_s,
                daily_budget=settings.demo_daily_budget,
                monthly_budget=settings.demo_monthly_budget,
            ),
        )
        return cls(
            {demo.name: demo},
            {demo.name: {"api_key": settings.demo_api_key.get_secret_value()}},
        )

    def names(self) -> list[str]:
        return sorted(self._sources)

    def get(self, name: str) -> Source:
        source = self._sources.get(name)
        if source is None:
            known = ", ".join(self.names()) or "none"
            raise BadRequestError(f"source: unknown source '{name}' (known: {known})")
        return source

    def credentials(self, name: str) -> Mapping[str, str]:
        return self._credentials.get(name, {})

    async def aclose(self) -> None:
        for source in self._sources.values():
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
