"""Provider profiles of the simulated provider: real providers' shapes on the same machinery.

No real provider can be called from tests, so the simulator also answers
like them, at their real-looking paths: SerpApi Google Maps
(`/search.json`), Google Places Text Search legacy
(`/maps/api/place/textsearch/json`) and new (`/v1/places:searchText`),
GitHub search (`/search/repositories|issues|users`) and Apollo people search
(`/api/v1/mixed_people/api_search`). Each reproduces the provider's documented
request shape, pagination, headers, error bodies and rate-limit behaviour,
while faults, API keys, per-key limits, quotas and stats are the simulator's
own (`sim.add_fault`, `sim.set_limits`, `sim.stats`).

    sim.profile("github").configure(limit=5)
    sim.profile("github").expected_items("coffee total:250", kind="issues")

See docs/simulator.md, "Provider profiles".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, FastAPI, HTTPException

from .apollo import ApolloProfile, ApolloSettings
from .base import Call, Profile, ProfileRequestError
from .github import GitHubProfile, GitHubSettings
from .places_legacy import PlacesLegacyProfile, PlacesLegacySettings
from .places_new import PlacesNewProfile, PlacesNewSettings
from .serpapi import SerpApiProfile, SerpApiSettings

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = [
    "ApolloProfile",
    "ApolloSettings",
    "Call",
    "GitHubProfile",
    "GitHubSettings",
    "PlacesLegacyProfile",
    "PlacesLegacySettings",
    "PlacesNewProfile",
    "PlacesNewSettings",
    "Profile",
    "ProfileRequestError",
    "Profiles",
    "SerpApiProfile",
    "SerpApiSettings",
]


class Profiles:
    """The profiles of one simulator, by name; typed attributes for each."""

    def __init__(self, sim: Simulator) -> None:
        self.serpapi = SerpApiProfile(sim)
        self.places_legacy = PlacesLegacyProfile(sim)
        self.places_new = PlacesNewProfile(sim)
        self.github = GitHubProfile(sim)
        self.apollo = ApolloProfile(sim)

    def __iter__(self) -> Iterator[Profile[Any, Any]]:
        yield from (self.serpapi, self.places_legacy, self.places_new, self.github, self.apollo)

    def __getitem__(self, name: str) -> Profile[Any, Any]:
        for profile in self:
            if profile.name == name:
                return profile
        raise KeyError(f"no simulator profile {name!r}; known: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [profile.name for profile in self]

    def reset(self) -> None:
        for profile in self:
            profile.reset()

    def describe(self) -> dict[str, Any]:
        """Per profile, its routes and settings (`GET /_admin/profiles`)."""
        return {
            p.name: {
                "routes": [f"{method} {path}" for method, path in p.routes],
                "settings": asdict(p.settings),
            }
            for p in self
        }

    def add_routes(self, app: FastAPI, *, admin: bool) -> None:
        """Serve every profile on `app`; with `admin`, also `/_admin/profiles[/{name}]`."""
        for profile in self:
            profile.add_routes(app)
        if admin:
            self._add_admin_routes(app)

    def _add_admin_routes(self, app: FastAPI) -> None:
        @app.get("/_admin/profiles")
        async def list_profiles() -> dict[str, Any]:
            return {"profiles": self.describe()}

        @app.post("/_admin/profiles/{name}")
        async def configure_profile(
            name: str, changes: Annotated[dict[str, Any], Body()]
        ) -> dict[str, Any]:
            try:
                profile = self[name]
            except KeyError as exc:
                raise HTTPException(404, detail=str(exc.args[0])) from exc
            try:
                settings = profile.configure(**changes)
            except ValueError as exc:
                raise HTTPException(422, detail=str(exc)) from exc
            return {"name": name, "settings": asdict(settings)}
