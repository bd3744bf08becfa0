"""Route middleware (order, short-circuit, response changes) and the HMAC
``SignatureVerifier``."""

from __future__ import annotations

import json
import time
from typing import Any

from harness import async_test

from convotic_sdk import Context, Module, RouteRequest, RouteResponse, SignatureVerifier, sign
from convotic_sdk._pb import work
from convotic_sdk.dispatch import Dispatcher
from convotic_sdk.middleware import Next, SignatureError, chain


def detached(*_: Any) -> Context:
    return Context.detached("m")


@async_test()
async def test_chain_order_and_short_circuit() -> None:
    seen: list[str] = []

    async def handler(req: RouteRequest, ctx: Context) -> RouteResponse:
        seen.append(f"handler {req.path}")
        return RouteResponse(200, {"path": req.path})

    async def tag(req: RouteRequest, ctx: Context, next: Next) -> RouteResponse:
        seen.append("tag")
        response = await next(req, ctx)
        return response.with_header("X-Tag", "1")

    async def rewrite(req: RouteRequest, ctx: Context, next: Next) -> Any:
        seen.append("rewrite")
        req.path = "/rewritten"
        return await next(req, ctx)

    async def deny(req: RouteRequest, ctx: Context, next: Next) -> Any:
        return RouteResponse(401, {"error": "no"})

    response = await chain([tag, rewrite], handler)(RouteRequest(path="/a"), Context.detached())
    assert seen == ["tag", "rewrite", "handler /rewritten"]
    assert response.headers == {"x-tag": "1"} and response.body == {"path": "/rewritten"}
    seen.clear()
    denied = await chain([deny, tag], handler)(RouteRequest(path="/a"), Context.detached())
    assert denied.status == 401 and seen == []


def signed_request(secret: str, body: bytes, t_ms: int | None = None) -> RouteRequest:
    t = int(time.time() * 1000) if t_ms is None else t_ms
    return RouteRequest(
        method="POST", path="/hook", headers={"x-convotic-signature": sign(secret, t, body)}, raw_body=body
    )


def test_signature_verifier() -> None:
    body = b'{"event":"order.paid"}'
    verifier = SignatureVerifier("new-secret", "old-secret")
    assert verifier.verify(signed_request("old-secret", body)) > 0
    assert verifier.verify(signed_request("new-secret", body)) > 0
    for request, reason in [
        (signed_request("other", body), "mismatch"),
        (signed_request("new-secret", body, t_ms=1_000), "expired"),
        (signed_request("new-secret", body, t_ms=int(time.time() * 1000) + 3_600_000), "future-dated"),
        (RouteRequest(raw_body=body), "missing header"),
        (RouteRequest(headers={"x-convotic-signature": "t=1"}, raw_body=body), "no v1"),
        (RouteRequest(headers={"x-convotic-signature": "t=x,v1=00"}, raw_body=body), "not a Unix time"),
    ]:
        try:
            verifier.verify(request)
        except SignatureError as err:
            assert reason in str(err), (reason, err)
        else:
            raise AssertionError(f"accepted: {reason}")
    assert "secret" not in repr(verifier).replace("secrets redacted", "")
    # The documented header format.
    assert sign("k", 1_700_000_000_000, b"x").startswith("t=1700000000000,v1=")


@async_test()
async def test_signature_verifier_as_route_middleware() -> None:
    module = Module("hooks", "1.0.0")

    @module.route("POST", "/hook", auth=False, middleware=[SignatureVerifier("s3cret")])
    async def hook(req: RouteRequest, ctx: Context) -> RouteResponse:
        return RouteResponse(200, {"ok": True})

    dispatcher = Dispatcher(module, detached)
    body = b'{"a":1}'
    good = signed_request("s3cret", body)
    request = work.RouteRequest(
        method="POST", path="/hook", route="/hook", headers=good.headers,
        body_kind=work.BODY_KIND_JSON, body=body,
    )
    ok = await dispatcher.run(work.Invocation(id=1, route=request), None)
    assert ok.route.status == 200
    request.headers["x-convotic-signature"] = sign("wrong", int(time.time() * 1000), body)
    refused = await dispatcher.run(work.Invocation(id=2, route=request), None)
    assert refused.route.status == 401
    assert json.loads(refused.route.body)["error"]["code"] == "invalid_signature"
