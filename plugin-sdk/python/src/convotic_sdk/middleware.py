"""Route middleware: code that runs before a route's handler and may answer by itself (e.g.
refuse a request whose signature is wrong) or pass the request on with ``await next(req, ctx)``.

A middleware is an ``async`` callable ``(req, ctx, next) -> response``; its name (reported in the
manifest, for diagnostics) is its ``name`` attribute, else its ``__name__``::

    async def require_tenant(req: RouteRequest, ctx: Context, next: Next) -> Any:
        if req.header("x-tenant") is None:
            return RouteResponse(400, {"error": "x-tenant missing"})
        return await next(req, ctx)

    @module.route("GET", "/items", middleware=[require_tenant])
    async def items(req, ctx): ...

:class:`SignatureVerifier` is a ready-made middleware admitting only webhook calls signed with
a shared secret: header ``x-convotic-signature: t=<unix ms>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>`` (several ``v1`` entries and several secrets allow rotation); :func:`sign`
computes the header a sender attaches.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol, Sequence

from .types import RouteRequest, RouteResponse

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Middleware", "Next", "SignatureVerifier", "SignatureError", "sign", "middleware_name"]

#: ``await next(req, ctx)`` runs the rest of the chain and the handler.
Next = Callable[[RouteRequest, "Context"], Awaitable[Any]]


class Middleware(Protocol):
    """What a middleware is: an async callable of ``(req, ctx, next)``."""

    def __call__(self, req: RouteRequest, ctx: Context, next: Next) -> Awaitable[Any]: ...


def middleware_name(middleware: Any) -> str:
    """The name a middleware is reported under in the manifest."""
    name = getattr(middleware, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(middleware, "__name__", type(middleware).__name__)


def chain(
    middleware: Sequence[Middleware],
    handler: Callable[[RouteRequest, Context], Awaitable[Any]],
) -> Next:
    """The callable running ``middleware`` in order, then ``handler``."""

    def at(index: int) -> Next:
        if index == len(middleware):
            return handler

        async def run(req: RouteRequest, ctx: Context) -> Any:
            return await middleware[index](req, ctx, at(index + 1))

        return run

    return at(0)


# ---- HMAC signatures -----------------------------------------------------------------------

#: Default name of the signature header.
DEFAULT_HEADER = "x-convotic-signature"
#: Largest header value accepted, and most ``v1`` entries.
_MAX_HEADER_BYTES = 2048
_MAX_SIGNATURES = 8


class SignatureError(Exception):
    """Why a signature was refused (the message names the reason, never a secret)."""


def _tag(secret: bytes, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).digest()


def sign(secret: str | bytes, t_ms: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``t_ms`` (ms since the Unix epoch)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return f"t={t_ms},v1={_tag(key, str(t_ms), body).hex()}"


def _parse(value: str) -> tuple[str, int, list[bytes]]:
    if len(value) > _MAX_HEADER_BYTES:
        raise SignatureError(f"malformed header: longer than {_MAX_HEADER_BYTES} bytes")
    timestamp: tuple[str, int] | None = None
    signatures: list[bytes] = []
    for element in value.split(","):
        key, sep, val = element.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed header: element {element.strip()!r} is not key=value")
        key, val = key.strip(), val.strip()
        if key == "t":
            if timestamp is not None:
                raise SignatureError("malformed header: more than one t= timestamp")
            if not val or len(val) > 20 or not val.isascii() or not val.isdigit():
                raise SignatureError(f"malformed header: t={val!r} is not a Unix time in milliseconds")
            timestamp = (val, int(val))
        elif key == "v1":
            if len(signatures) == _MAX_SIGNATURES:
                raise SignatureError(f"malformed header: more than {_MAX_SIGNATURES} v1= signatures")
            try:
                tag = bytes.fromhex(val)
            except ValueError:
                tag = b""
            if len(tag) != 32:
                raise SignatureError("malformed header: v1 is not 64 hex digits")
            signatures.append(tag)
    if timestamp is None:
        raise SignatureError("malformed header: no t= timestamp")
    if not signatures:
        raise SignatureError("malformed header: no v1= signature")
    return timestamp[0], timestamp[1], signatures


class SignatureVerifier:
    """Middleware admitting only requests signed with one of ``secrets`` within
    ``replay_window`` seconds (and at most ``clock_skew`` seconds in the future). Refusals are
    answered ``401 {"error": {"code": "invalid_signature", "message": ...}}`` (500
    ``signature_not_configured`` when no secret is set). Use it on ``auth=False`` routes."""

    name = "hmac-signature"

    def __init__(
        self,
        *secrets: str | bytes,
        header: str = DEFAULT_HEADER,
        replay_window: float = 300.0,
        clock_skew: float = 30.0,
    ) -> None:
        self._secrets = [s.encode() if isinstance(s, str) else bytes(s) for s in secrets if s]
        self.header = header.lower()
        self.replay_window = replay_window
        self.clock_skew = clock_skew

    def __repr__(self) -> str:
        return f"SignatureVerifier(<{len(self._secrets)} secrets redacted>, header={self.header!r})"

    def verify(self, req: RouteRequest, now_ms: int | None = None) -> int:
        """Checks the request's signature; returns its timestamp (ms) or raises
        :class:`SignatureError`."""
        if not self._secrets:
            raise SignatureError("no signing secret is configured")
        value = req.header(self.header)
        if value is None:
            raise SignatureError(f"missing header {self.header}")
        text, t_ms, given = _parse(value)
        if not any(
            hmac.compare_digest(_tag(secret, text, req.raw_body), tag)
            for secret in self._secrets
            for tag in given
        ):
            raise SignatureError("mismatch: no v1 signature matches the body")
        now = int(time.time() * 1000) if now_ms is None else now_ms
        window, skew = int(self.replay_window * 1000), int(self.clock_skew * 1000)
        if t_ms <= now and now - t_ms > window:
            raise SignatureError(
                f"expired: signed {now - t_ms} ms ago, the replay window is {window} ms"
            )
        if t_ms > now and t_ms - now > skew:
            raise SignatureError(
                f"future-dated: signed {t_ms - now} ms ahead of this clock, the tolerance is {skew} ms"
            )
        return t_ms

    async def __call__(self, req: RouteRequest, ctx: Context, next: Next) -> Any:
        try:
            self.verify(req)
        except SignatureError as err:
            status, code = (500, "signature_not_configured") if not self._secrets else (401, "invalid_signature")
            return RouteResponse(status, {"error": {"code": code, "message": str(err)}})
        return await next(req, ctx)
