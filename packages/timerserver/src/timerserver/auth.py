"""API keys: bearer tokens, each scoped to namespaces, checked before the API.

With keys configured, every route under ``/api/v1`` needs
``Authorization: Bearer <token>``, except the OpenAPI document. A missing or
unknown token answers ``401 unauthenticated``; a known key used on a
namespace it does not cover answers ``403 permission_denied``. The home
page, the reference page, the web UI's files, ``/healthz``, ``/readyz`` and
``/metrics`` stay open: they hold no timer data, and probes and scrapers
carry no token (docs/operations/security.md says how to fence them).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ._errors import ApiError
from .settings import ApiKey

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
OPEN_API_PATHS = frozenset({f"{API_PREFIX}/openapi.json"})
_NAMESPACES_PREFIX = f"{API_PREFIX}/namespaces/"
_ACTIVITY_PATH = f"{API_PREFIX}/activity"
_STATE_KEY = "api_key"
_REALM = 'Bearer realm="timerserver"'


class KeyRing:
    """Finds the key of a bearer token, in time that does not depend on it."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = [(bytes.fromhex(key.token_sha256), key) for key in keys]

    def find(self, token: bytes) -> ApiKey | None:
        """The key whose token is *token*, or None."""
        digest = hashlib.sha256(token).digest()
        found = None
        # Every key is compared, each in constant time: neither where a
        # token differs nor which key it matched shows in the timing.
        for expected, key in self._keys:
            if hmac.compare_digest(digest, expected):
                found = key

        return found


def api_key_of(request: Request) -> ApiKey | None:
    """The key that authenticated *request*; None when keys are off."""
    key = request.scope.get("state", {}).get(_STATE_KEY)
    return key if isinstance(key, ApiKey) else None


def needs_key(path: str) -> bool:
    """Whether a request to *path* (without the root path) needs a key."""
    in_api = path == API_PREFIX or path.startswith(f"{API_PREFIX}/")
    return in_api and path not in OPEN_API_PATHS


class ApiKeyMiddleware:
    """Authenticates the API's requests and keeps each key to its namespaces.

    The namespace is read from the path as the router reads it (the segment
    after ``/api/v1/namespaces/``), so that no route below it can be reached
    with a key that does not cover it. ``GET /api/v1/namespaces`` is left to
    its handler, which lists only what the key covers.
    """

    def __init__(self, app: ASGIApp, keys: Sequence[ApiKey]) -> None:
        self.app = app
        self.ring = KeyRing(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope)
        if scope["type"] != "http" or not needs_key(path):
            await self.app(scope, receive, send)
            return

        # The path is the client's: quoted, it cannot fake a line of the log.
        found = self._authenticate(scope)
        if isinstance(found, ApiError):
            logger.debug(
                "refused %s %r: %s",
                scope["method"],
                path,
                found.message,
                extra={"action": "unauthenticated"},
            )
            await found.response()(scope, receive, send)
            return

        key = found
        denied = _denied_namespace(key, scope, path)
        if denied is not None:
            logger.debug(
                "refused %s %r to API key %s",
                scope["method"],
                path,
                key.name,
                extra={"action": "permission_denied", "key": key.name},
            )
            await _permission_denied(key, denied).response()(scope, receive, send)
            return

        scope.setdefault("state", {})[_STATE_KEY] = key
        await self.app(scope, receive, send)

    def _authenticate(self, scope: Scope) -> ApiKey | ApiError:
        values = [
            value
            for name, value in scope["headers"]
            if name.lower() == b"authorization"
        ]
        if not values:
            return _unauthenticated(
                "this API needs an API key: send Authorization: Bearer <token>",
                invalid=False,
            )

        scheme, _, token = values[0].strip().partition(b" ")
        token = token.strip()
        if len(values) > 1 or scheme.lower() != b"bearer" or not token:
            return _unauthenticated(
                "the Authorization header must be one Bearer <token>", invalid=True
            )

        key = self.ring.find(token)
        if key is None:
            return _unauthenticated("the bearer token is not valid", invalid=True)

        return key


def _route_path(scope: Scope) -> str:
    # What the router matches: the path less the root path it was mounted at.
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :] or "/"

    return path


def _denied_namespace(key: ApiKey, scope: Scope, path: str) -> str | None:
    """The namespace of the request that *key* does not cover, if any.

    The empty string stands for "all namespaces", which only a key for all
    of them may ask for.
    """
    if key.namespaces is None:
        return None

    if path.startswith(_NAMESPACES_PREFIX):
        namespace = path[len(_NAMESPACES_PREFIX) :].split("/", 1)[0]
        return None if key.covers(namespace) else namespace

    if path == _ACTIVITY_PATH:
        asked = QueryParams(scope.get("query_string", b"")).getlist("namespace")
        if not asked:
            return ""

        # Every value is checked: the handler reads one of them, and which
        # one is its business.
        return next((name for name in asked if not key.covers(name)), None)

    return None


def _unauthenticated(message: str, *, invalid: bool) -> ApiError:
    challenge = f'{_REALM}, error="invalid_token"' if invalid else _REALM
    return ApiError(
        401, "unauthenticated", message, headers={"WWW-Authenticate": challenge}
    )


def _permission_denied(key: ApiKey, namespace: str) -> ApiError:
    if namespace:
        message = f"API key {key.name!r} does not cover namespace {namespace!r}"
    else:
        message = (
            f"API key {key.name!r} covers some namespaces only: "
            "name one with ?namespace="
        )

    return ApiError(
        403,
        "permission_denied",
        message,
        {"namespace": namespace or None},
        headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope"'},
    )
