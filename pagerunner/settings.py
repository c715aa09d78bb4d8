"""Configuration: one `Settings` object, built once at start-up and passed down.

Every field can be set with a `PAGERUNNER_*` environment variable (or the CLI
flag of the same name); the database also reads `DATABASE_URL`, and the engine
reads the Inngest SDK's own `INNGEST_*` variables. Secrets are `SecretStr`, so
they never print.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAGERUNNER_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    executor_port: int = Field(8288, ge=1, le=65535)
    db: str = Field("pagerunner.db", validation_alias=AliasChoices("PAGERUNNER_DB", "DATABASE_URL"))
    demo: bool = True
    demo_port: int = Field(8099, ge=1, le=65535)
    demo_api_key: SecretStr = SecretStr("demo-key")
    #: Overrides every source's delay between pages (seconds); None keeps each source's own.
    page_delay_s: float | None = Field(None, ge=0)
    #: Rate-limit waits up to this long are slept through; longer ones pause the query.
    max_rate_limit_wait_s: float = Field(30.0, ge=0)
    #: Seconds before a provider request times out (then it is retried).
    source_timeout_s: float = Field(10.0, gt=0)
    #: First retry delay of the embedded executor (doubling, capped at 60 s, with jitter).
    retry_base_s: float = Field(1.0, gt=0)
    app_id: str = "pagerunner"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # The Inngest SDK's variables select the engine (see `engine`).
    inngest_dev: str | None = Field(None, validation_alias="INNGEST_DEV")
    inngest_event_key: SecretStr | None = Field(None, validation_alias="INNGEST_EVENT_KEY")
    inngest_signing_key: SecretStr | None = Field(None, validation_alias="INNGEST_SIGNING_KEY")

    @property
    def engine(self) -> Literal["embedded", "inngest-dev", "inngest-cloud"]:
        """Embedded unless the environment points the SDK at a real Inngest."""
        if self.inngest_dev and self.inngest_dev.lower() not in ("0", "false"):
            return "inngest-dev"
        if self.inngest_event_key and self.inngest_signing_key:
            return "inngest-cloud"
        return "embedded"

    @property
    def app_origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def executor_origin(self) -> str:
        return f"http://127.0.0.1:{self.executor_port}"

    @property
    def demo_origin(self) -> str:
        return f"http://127.0.0.1:{self.demo_port}"
