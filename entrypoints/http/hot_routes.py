"""A direct ASGI path for valid requests to the service's busiest routes.

FastAPI resolves a route's dependencies, security scheme and body on every request.
For the decision and online-feature routes that took a large share of the event
loop's time (cProfile of the service under load, FastAPI 0.165). ``HotRoutes`` serves
a request to such a route itself when the request is valid: a POST with the content
type ``application/json``, a key with the route's scope and a body that validates
against the route's request model. It parses and validates the body as FastAPI does
(``json.loads``, then the model in Python mode), so the route would accept each body
it accepts, with the same values. Every other request, including each one it
declines for any reason, goes to the FastAPI application with its body replayed
unchanged, so error responses come from the application. The routes stay declared
in the application, which documents them in the OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from .auth import API_KEY_HEADER, ApiKeyRegistry
from .settings import Scope

AsgiScope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[AsgiScope, Receive, Send], Awaitable[None]]
ErrorResponder = Callable[[Request, Exception], Awaitable[Response]]

# Larger bodies go to the application. Valid bodies of these routes are far smaller.
MAX_BODY_BYTES = 64 * 1024
_KEY_HEADER = API_KEY_HEADER.lower().encode("latin-1")


@dataclass(frozen=True, slots=True)
class HotRoute:
    """A POST route served directly: its request model, the scope its key needs, the
    handler that builds the response to a valid body, and the application's route
    (for metrics)."""

    request_model: type[BaseModel]
    scope: Scope
    handler: Callable[[Any], Awaitable[Response]]
    route: APIRoute


class HotRoutes:
    """ASGI middleware that serves valid requests to ``routes`` (by path) itself.

    ``errors`` maps the exceptions a handler raises after validation
    (``HTTPException`` and the application's own ones) to the application's responses.
    Any other exception propagates, as it would from the route.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: dict[str, HotRoute],
        keys: ApiKeyRegistry,
        errors: dict[type[Exception], ErrorResponder],
    ) -> None:
        self._app = app
        self._routes = routes
        self._keys = keys
        self._errors = tuple(errors.items())

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        hot = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if hot is None or scope["method"] != "POST" or scope.get("root_path"):
            await self._app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        request = None if body is None else self._valid_request(hot, scope, body)
        if request is None:
            await self._app(scope, _replay(messages, receive), send)
            return
        scope["route"] = hot.route
        try:
            response = await hot.handler(request)
        except Exception as error:
            responder = next(
                (respond for kind, respond in self._errors if isinstance(error, kind)), None
            )
            if responder is None:
                raise
            response = await responder(Request(scope), error)
        await response(scope, receive, send)

    def _valid_request(self, hot: HotRoute, scope: AsgiScope, body: bytes) -> BaseModel | None:
        """Return the validated body, or None when the application must respond."""
        content_type = key = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value
            elif name == _KEY_HEADER and key is None:
                key = value
        if content_type != b"application/json" or key is None or not body:
            return None
        principal = self._keys.authenticate(key.decode("latin-1"))
        if principal is None or hot.scope not in principal.scopes:
            return None
        try:
            return hot.request_model.model_validate(json.loads(body))
        except Exception:  # invalid JSON, too deeply nested JSON, an invalid body
            return None


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """Receive the request body and return its messages and the body. The body is
    None when it is over MAX_BODY_BYTES or the client disconnected."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Return a receive callable that yields ``messages`` again, then reads on."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


__all__ = ["MAX_BODY_BYTES", "HotRoute", "HotRoutes"]
