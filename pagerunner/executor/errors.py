"""Exceptions raised by the executor.

ExecutorError
├── ExpressionError     an expression could not be parsed or evaluated
├── InvalidDurationError a duration or time string could not be parsed
├── InvalidEventError   an event sent to intake is malformed or uses a reserved name
│   └── EventTooLargeError  an event (or a request of events) is over the size limit
├── RegistrationError   a sync payload is malformed or an app could not be synced
├── SignatureError      a request or response signature is missing or wrong
├── NotFoundError       a run, event or function does not exist
├── ConflictError       the request conflicts with the state (e.g. a singleton refuses a rerun)
├── StoreError          the state store failed (database errors are translated to this)
└── TransportError      the app could not be reached or did not speak the protocol

Each class's docstring is its default message.
"""

from __future__ import annotations


class ExecutorError(Exception):
    """The executor failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class ExpressionError(ExecutorError):
    """The expression is not valid."""


class InvalidDurationError(ExecutorError):
    """The duration is not valid."""


class InvalidEventError(ExecutorError):
    """The event is not valid."""


class EventTooLargeError(InvalidEventError):
    """The event is over the max size."""


class RegistrationError(ExecutorError):
    """The app could not be synced."""


class SignatureError(ExecutorError):
    """The signature is missing or does not match."""


class NotFoundError(ExecutorError):
    """Not found."""


class ConflictError(ExecutorError):
    """The request conflicts with the state of the run."""


class StoreError(ExecutorError):
    """The state store failed."""


class TransportError(ExecutorError):
    """The app could not be reached or answered with something that is not the protocol."""
