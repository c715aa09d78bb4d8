"""A Python source, loaded by dotted path or entry point in the loader tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pagerunner.sources.base import Checkpoint, Limits, Page, Record


class EchoSource:
    """Returns its params as one record."""

    description = "echo"
    params_help: Mapping[str, str] = {"text": "what to echo"}
    page_delay_s = 0.0
    limits = Limits()
    max_wait_s: float | None = None
    credentials_env: Mapping[str, str] = {"token": "ECHO_TOKEN"}

    def __init__(self, name: str = "echo", prefix: str = "") -> None:
        self.name = name
        self.prefix = prefix
        self.credential_id = f"env:ECHO_TOKEN:{name}"

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return dict(params)

    async def fetch_page(
        self, params: Mapping[str, Any], checkpoint: Checkpoint, credentials: Mapping[str, str]
    ) -> Page:
        text = self.prefix + str(params.get("text", ""))
        return Page(records=[Record(key=text, data={"text": text})], next_checkpoint=None)
