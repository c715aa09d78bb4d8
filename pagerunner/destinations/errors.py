"""The errors of destinations; each class's docstring is its default message."""

from __future__ import annotations

__all__ = ["DestinationError", "DestinationRefused", "DltMissing", "LoadFailed"]


class DestinationError(Exception):
    """The records could not be loaded into the destination."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class DestinationRefused(DestinationError):
    """The destination spec is malformed or not allowed here."""


class DltMissing(DestinationError):
    """Destinations need dlt, which is not installed: install pagerunner[dlt]."""


class LoadFailed(DestinationError):
    """The load failed (the message is redacted: no credential in it)."""
