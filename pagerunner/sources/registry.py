"""The sources this process knows, and the credentials each one uses.

Credentials come from `Settings` (environment variables), never from the
database or the query. Besides the built-in `demo`, the sources defined in
files (presets, `pagerunner.toml`, the `sources/` folder) and by plugins are
loaded here (`loader.load_sources`); they share one HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ..settings import Settings
from .base import BadRequestError, Limits, Source
from .demo import DemoSource
from .http import provider_client
from .loader import PRESETS_DIR, load_sources

__all__ = ["SourceRegistry"]


class SourceRegistry:
    def __init__(
        self,
        sources: Mapping[str, Source],
        credentials: Mapping[str, Mapping[str, str]],
        *,
        origins: Mapping[str, str] | None = None,
        credential_env: Mapping[str, Mapping[str, str]] | None = None,
        client: httpx.AsyncClient | None = None,
    ):
        self._sources = dict(sources)
        self._credentials = {k: dict(v) for k, v in credentials.items()}
        self._origins = dict(origins or {})
        self._credential_env = {k: dict(v) for k, v in (credential_env or {}).items()}
        self._client = client  # shared by the file-defined sources, closed with the registry

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
        client = provider_client(settings.source_timeout_s)
        loaded = load_sources(
            env=settings.environment(),
            config_file=settings.sources_file,
            sources_dir=settings.sources_dir,
            presets_dir=PRESETS_DIR if settings.source_presets else None,
            client=client,
            timeout_s=settings.source_timeout_s,
            page_delay_s=delay,
            reserved={demo.name},
            origins=settings.source_origins,
        )
        return cls(
            {demo.name: demo} | {name: e.source for name, e in loaded.items()},
            {demo.name: {"api_key": settings.demo_api_key.get_secret_value()}}
            | {name: e.credentials for name, e in loaded.items()},
            origins={demo.name: "built-in"} | {name: e.origin for name, e in loaded.items()},
            credential_env={demo.name: {"api_key": "PAGERUNNER_DEMO_API_KEY"}}
            | {name: e.credential_env for name, e in loaded.items()},
            client=client,
        )

    def names(self) -> list[str]:
        """Built-in sources first (the default in forms), then the others by name."""
        builtin = [n for n, origin in self._origins.items() if origin == "built-in"]
        return builtin + sorted(n for n in self._sources if n not in builtin)

    def get(self, name: str) -> Source:
        source = self._sources.get(name)
        if source is None:
            known = ", ".join(self.names()) or "none"
            raise BadRequestError(f"source: unknown source '{name}' (known: {known})")
        return source

    def credentials(self, name: str) -> Mapping[str, str]:
        return self._credentials.get(name, {})

    def origin(self, name: str) -> str:
        """Where the source is defined (a file, a preset, an entry point or built-in)."""
        return self._origins.get(name, "built-in")

    def credential_env(self, name: str) -> Mapping[str, str]:
        """Credential name -> the env variable it is read from (never the secret)."""
        return self._credential_env.get(name, {})

    async def aclose(self) -> None:
        for source in self._sources.values():
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
        if self._client is not None:
            await self._client.aclose()
