"""From an `Answer` to the HTTP response, for the /v1/search route and every profile route alike.

`SimulatorAPI` keeps the server's `send` in the request scope so that a
dropped connection (`Answer.drop`) can close the real socket;
`wait_unless_client_leaves` sleeps a delay but ends it when the client goes.
The app and the profiles both import this module; it imports neither.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from .answers import Answer

__all__ = ["SimulatorAPI", "to_response", "wait_unless_client_leaves"]

# Where the app keeps the server's own `send` callable, to reach the connection (see drop).
_SERVER_SEND = "pagerunner.simulator.server_send"


class SimulatorAPI(FastAPI):
    """A FastAPI app that keeps the server's `send` in the scope (Starlette wraps it later)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def to_response(answer: Answer) -> Response:
    """`answer` as a response: JSON, raw bytes, or a connection closed without a byte."""
    if answer.drop:
        return _DroppedConnection()
    if answer.raw is not None:
        return Response(answer.raw, status_code=answer.status, headers=dict(answer.headers))
    return JSONResponse(answer.body, status_code=answer.status, headers=dict(answer.headers))


async def wait_unless_client_leaves(request: Request, delay_s: float) -> bool:
    """Sleep `delay_s`; False as soon as the client disconnects.

    Waiting on `receive` rather than sleeping blind matters: uvicorn waits for
    every running request before it stops, and a 30 s `timeout` fault whose
    client already gave up would hold the shutdown for 30 s.
    """
    try:
        async with asyncio.timeout(delay_s):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return True
    return False


class _DroppedConnection(Response):
    """Close the connection without sending a byte: the client sees a protocol error.

    Under uvicorn the server's `send` is a bound method of the request cycle,
    which holds the asyncio transport; closing it is what a crashing provider
    or a broken proxy does. Elsewhere (httpx's ASGITransport in tests) there is
    no connection to close, so the error the client would see is raised instead.
    """

    def __init__(self) -> None:
        super().__init__(status_code=0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server_send = scope.get(_SERVER_SEND)
        transport = getattr(getattr(server_send, "__self__", None), "transport", None)
        if not isinstance(transport, asyncio.BaseTransport):
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        transport.close()
        # Return only once the server has noticed: otherwise it answers 500 for us.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                while (await receive())["type"] != "http.disconnect":
                    pass
