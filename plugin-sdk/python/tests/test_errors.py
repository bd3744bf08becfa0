"""How handler results and raised errors become outcomes (docs/PROTOCOL.md §5.7, §5.10-5.14),
checked on the dispatcher with a context that has no host."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from harness import async_test

from convotic_sdk import (
    ActionCall,
    BadInput,
    Block,
    Connection,
    Context,
    CronTick,
    Discard,
    HandlerError,
    HostError,
    Module,
    NodeInvocation,
    NodeOutput,
    Retry,
    RouteRequest,
    RouteResponse,
    TestResult,
    WorkerMessage,
)
from convotic_sdk._pb import work
from convotic_sdk.dispatch import Dispatcher


def make_module() -> Module:
    module = Module("errors", "1.0.0")

    @module.route("GET", "/raise/:kind")
    async def raise_(req: RouteRequest, ctx: Context) -> Any:
        kind = req.params["kind"]
        if kind == "handler":
            raise HandlerError("nope", retryable=True, details={"why": 1})
        if kind == "details":
            raise HandlerError("list details", details=[1, 2])
        if kind == "bad_input":
            raise BadInput("name is required")
        if kind == "discard":
            raise Discard("poison")
        if kind == "host":
            raise HostError("contacts.get", grpc.StatusCode.UNAVAILABLE, "down")
        if kind == "timeout":
            raise TimeoutError("my own timeout")
        raise RuntimeError("boom")

    @module.route("GET", "/value/:kind")
    async def value(req: RouteRequest, ctx: Context) -> Any:
        kind = req.params["kind"]
        return {
            "dict": {"a": 1},
            "none": None,
            "bytes": RouteResponse.bytes(200, b"\x00\x01", "application/octet-stream"),
            "text": RouteResponse.text(202, "hi"),
            "status0": RouteResponse(0, {}),
            "status199": RouteResponse(199),
            "nan": RouteResponse(200, float("nan")),
            "object": RouteResponse(200, object()),
        }[kind]

    @module.route("GET", "/sync")
    def sync(req: RouteRequest, ctx: Context) -> RouteResponse:
        return RouteResponse(200, {"sync": True})

    module.register_route("GET", "/unhandled", None)  # type: ignore[arg-type]

    @module.worker("orders.created")
    async def worker(msg: WorkerMessage, ctx: Context) -> None:
        action = msg.payload["action"]
        if action == "ack":
            return
        if action == "discard":
            raise Discard("poison message")
        if action == "bad":
            raise BadInput("no order id")
        if action == "later":
            raise Retry("busy", after=1.5)
        if action == "fail":
            raise HandlerError("failed once")
        raise KeyError("crash")

    @module.node(type="greet", version="1.0.0", branches=["found", "missing"])
    async def greet(inv: NodeInvocation, ctx: Context) -> NodeOutput:
        return NodeOutput({"greeting": f"hi {inv.input['name']}"}, branch="found")

    @module.node(type="greet", version="2.0.0")
    async def greet2(inv: NodeInvocation, ctx: Context) -> Any:
        return {"v": 2, "conn": inv.connection.get("k") if inv.connection else None}

    sms = module.block(Block("sms"))

    @sms.test_connection
    async def test(conn: Connection, ctx: Context) -> TestResult:
        if conn.get("api_key") == "good":
            return TestResult.success(account_label="acct")
        return TestResult.failure("bad key")

    @sms.action("send")
    async def send(call: ActionCall, ctx: Context) -> Any:
        return {"sent": call.input["to"], "block": call.connection.block_id}

    module.block(Block("bare", test_connection=lambda conn, ctx: True))

    @module.cron("tick", schedule="* * * * *")
    async def tick(t: CronTick, ctx: Context) -> str:
        return f"ran {t.run_id}"

    return module


def dispatcher() -> Dispatcher:
    def context(workspace: str, request_id: str, traceparent: str, deadline: float | None) -> Context:
        return Context.detached("errors", workspace=workspace, request_id=request_id)

    return Dispatcher(make_module(), context)


async def run(**kind: Any) -> work.Outcome:
    return await dispatcher().run(work.Invocation(id=9, request_id="r9", **kind), None)


def get(route: str, **params: str) -> dict[str, Any]:
    path = route
    for k, v in params.items():
        path = path.replace(f":{k}", v)
    return {"route": work.RouteRequest(method="GET", path=path, route=route, params=params)}


def error_of(outcome: work.Outcome) -> tuple[int, str, bool]:
    assert outcome.WhichOneof("result") == "error", outcome
    return outcome.error.code, outcome.error.message, outcome.error.retryable


@pytest.mark.parametrize(
    "kind, code, message, retryable",
    [
        ("handler", work.ERROR_CODE_HANDLER, "nope", True),
        ("bad_input", work.ERROR_CODE_BAD_INPUT, "name is required", False),
        ("discard", work.ERROR_CODE_HANDLER, "poison", False),
        ("host", work.ERROR_CODE_HANDLER, "contacts.get failed: UNAVAILABLE: down", True),
        ("timeout", work.ERROR_CODE_INTERNAL, "handler raised TimeoutError: my own timeout", False),
        ("crash", work.ERROR_CODE_INTERNAL, "handler raised RuntimeError: boom", False),
    ],
)
@async_test()
async def test_route_errors(kind: str, code: int, message: str, retryable: bool) -> None:
    outcome = await run(**get("/raise/:kind", kind=kind))
    assert outcome.id == 9
    assert error_of(outcome) == (code, message, retryable)


@async_test()
async def test_error_details_are_json_objects() -> None:
    outcome = await run(**get("/raise/:kind", kind="handler"))
    assert json.loads(outcome.error.details_json) == {"why": 1}
    outcome = await run(**get("/raise/:kind", kind="details"))
    assert json.loads(outcome.error.details_json) == {"details": [1, 2]}
    outcome = await run(**get("/raise/:kind", kind="crash"))
    assert outcome.error.details_json == b""


@async_test()
async def test_route_results() -> None:
    ok = await run(**get("/value/:kind", kind="dict"))
    assert ok.route.status == 200 and ok.route.body_kind == work.BODY_KIND_JSON
    assert json.loads(ok.route.body) == {"a": 1}
    empty = await run(**get("/value/:kind", kind="none"))
    assert empty.route.status == 204 and empty.route.body == b""
    raw = await run(**get("/value/:kind", kind="bytes"))
    assert raw.route.body_kind == work.BODY_KIND_BYTES and raw.route.body == b"\x00\x01"
    assert raw.route.headers["content-type"] == "application/octet-stream"
    text = await run(**get("/value/:kind", kind="text"))
    assert text.route.status == 202 and text.route.body == b"hi"
    for bad in ("status0", "status199"):
        code, message, _ = error_of(await run(**get("/value/:kind", kind=bad)))
        assert code == work.ERROR_CODE_INTERNAL and "invalid HTTP status" in message
    for bad in ("nan", "object"):
        code, message, _ = error_of(await run(**get("/value/:kind", kind=bad)))
        assert code == work.ERROR_CODE_INTERNAL and "JSON" in message
    sync = await run(**get("/sync"))
    assert json.loads(sync.route.body) == {"sync": True}


@async_test()
async def test_not_found_and_missing_handlers() -> None:
    code, message, _ = error_of(await run(**get("/nothing")))
    assert code == work.ERROR_CODE_NOT_FOUND and message == "no route registered for GET /nothing"
    code, message, _ = error_of(await run(**get("/unhandled")))
    assert code == work.ERROR_CODE_INTERNAL and "without a handler" in message
    code, _, _ = error_of(await run())  # no kind: a newer supervisor's invocation
    assert code == work.ERROR_CODE_NOT_FOUND
    code, message, _ = error_of(await run(node=work.NodeInvocation(node_type="greet", node_version="9")))
    assert code == work.ERROR_CODE_NOT_FOUND and message == "no node 'greet' version '9'"
    code, _, _ = error_of(await run(message=work.WorkerMessage(handler="other", topic="other")))
    assert code == work.ERROR_CODE_NOT_FOUND
    code, _, _ = error_of(await run(block_test=work.BlockTestConnection(block_id="none")))
    assert code == work.ERROR_CODE_NOT_FOUND
    code, _, _ = error_of(await run(block_action=work.BlockActionCall(block_id="sms", action="x")))
    assert code == work.ERROR_CODE_NOT_FOUND
    code, _, _ = error_of(await run(cron=work.CronTick(cron="other")))
    assert code == work.ERROR_CODE_NOT_FOUND


@async_test()
async def test_route_without_pattern_is_matched_by_path() -> None:
    outcome = await run(route=work.RouteRequest(method="GET", path="/raise/bad_input"))
    assert error_of(outcome)[0] == work.ERROR_CODE_BAD_INPUT


@async_test()
async def test_invalid_json_is_bad_input() -> None:
    request = work.RouteRequest(
        method="GET", path="/value/dict", route="/value/:kind", params={"kind": "dict"},
        body_kind=work.BODY_KIND_JSON, body=b"{not json",
    )
    assert error_of(await run(route=request))[0] == work.ERROR_CODE_BAD_INPUT
    node = work.NodeInvocation(node_type="greet", node_version="1.0.0", input_json=b"[")
    assert error_of(await run(node=node))[0] == work.ERROR_CODE_BAD_INPUT


@pytest.mark.parametrize(
    "action, disposition, reason, retry_after_ms",
    [
        ("ack", work.DISPOSITION_ACK, "", 0),
        ("discard", work.DISPOSITION_DISCARD, "poison message", 0),
        ("bad", work.DISPOSITION_DISCARD, "no order id", 0),
        ("later", work.DISPOSITION_RETRY, "busy", 1500),
        ("fail", work.DISPOSITION_RETRY, "failed once", 0),
    ],
)
@async_test()
async def test_worker_dispositions(action: str, disposition: int, reason: str, retry_after_ms: int) -> None:
    message = work.WorkerMessage(
        handler="orders.created",
        topic="orders.created",
        message_id="m1",
        payload_json=json.dumps({"action": action}).encode(),
        attempt=1,
    )
    outcome = await run(message=message)
    assert outcome.WhichOneof("result") == "message"
    assert (outcome.message.disposition, outcome.message.reason, outcome.message.retry_after_ms) == (
        disposition,
        reason,
        retry_after_ms,
    )


@async_test()
async def test_worker_crash_is_internal() -> None:
    message = work.WorkerMessage(handler="orders.created", payload_json=b'{"action": "crash"}')
    code, message_, _ = error_of(await run(message=message))
    assert code == work.ERROR_CODE_INTERNAL and "KeyError" in message_


@async_test()
async def test_nodes_blocks_and_crons() -> None:
    node = await run(
        node=work.NodeInvocation(node_type="greet", node_version="1.0.0", input_json=b'{"name":"ann"}')
    )
    assert node.node.branch == "found"
    assert json.loads(node.node.output_json) == {"greeting": "hi ann"}
    # Empty version: the highest one; a plain return value goes to the default branch.
    latest = await run(
        node=work.NodeInvocation(
            node_type="greet",
            connection=work.Connection(id="c1", block_id="sms", config_json=b'{"k": "v"}'),
        )
    )
    assert latest.node.branch == "default"
    assert json.loads(latest.node.output_json) == {"v": 2, "conn": "v"}

    def connection(key: str) -> work.Connection:
        return work.Connection(id="c1", block_id="sms", config_json=json.dumps({"api_key": key}).encode())

    good = await run(block_test=work.BlockTestConnection(block_id="sms", connection=connection("good")))
    assert good.block_test == work.BlockTestResult(ok=True, account_label="acct")
    bad = await run(block_test=work.BlockTestConnection(block_id="sms", connection=connection("bad")))
    assert bad.block_test == work.BlockTestResult(ok=False, message="bad key")
    bare = await run(block_test=work.BlockTestConnection(block_id="bare"))
    assert bare.block_test.ok
    action = await run(
        block_action=work.BlockActionCall(
            block_id="sms", action="send", connection=connection("good"), input_json=b'{"to": "+33"}'
        )
    )
    assert json.loads(action.block_action.output_json) == {"sent": "+33", "block": "sms"}
    not_object = work.Connection(config_json=b"[1]")
    bad_config = await run(block_test=work.BlockTestConnection(block_id="sms", connection=not_object))
    assert error_of(bad_config)[0] == work.ERROR_CODE_BAD_INPUT
    cron = await run(cron=work.CronTick(cron="tick", run_id="r1", manual=True))
    assert cron.cron.message == "ran r1"


def test_connection_repr_hides_values() -> None:
    conn = Connection("c1", "sms", {"api_token": "sk_live_123456"})
    assert "api_token" in repr(conn) and "sk_live_123456" not in repr(conn)
