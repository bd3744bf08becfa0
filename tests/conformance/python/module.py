"""The conformance module of tests/conformance/SPEC.md, written with the Python SDK
(convotic_sdk). The same module exists in Rust and TypeScript; the conformance suite runs the
same checks against each. ``CONFORMANCE_BREAK=<check>`` breaks that one check on purpose.

Run by the supervisor as::

    command = "/usr/bin/python3"
    args = ["-m", "convotic_sdk", "run", "module.py"]
    env = { PYTHONPATH = "<repo>/plugin-sdk/python/src:<repo>/plugin-sdk/python/.deps" }
    working_dir = "<repo>/tests/conformance/python"
    read_only_paths = ["<repo>/plugin-sdk/python"]
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import grpc

from convotic_sdk import (
    ActionCall,
    Block,
    Connection,
    Context,
    CronTick,
    Discard,
    HandlerError,
    Module,
    NodeInvocation,
    NodeOutput,
    RouteRequest,
    RouteResponse,
    TestResult,
    WorkerMessage,
)
from convotic_sdk._generated.convotic.host.v1 import host_pb2, host_pb2_grpc


def broken(check: str) -> bool:
    """Whether ``check`` is the one broken on purpose."""
    return os.environ.get("CONFORMANCE_BREAK") == check


def not_found() -> RouteResponse:
    return RouteResponse(404, {"error": "not found"})


module = Module("conformance", "1.0.0")


# ---- routes ----------------------------------------------------------------------------------


@module.route("GET", "/echo/:id")
async def echo(req: RouteRequest, ctx: Context) -> RouteResponse:
    """routes.echo"""
    id_ = "wrong" if broken("routes.echo") else req.params["id"]
    return RouteResponse(200, {"id": id_, "query": req.query, "method": req.method})


@module.route("POST", "/echo")
async def echo_body(req: RouteRequest, ctx: Context) -> RouteResponse:
    """routes.body"""
    body = None if broken("routes.body") else req.body
    return RouteResponse(200, {"body": body, "content_type": req.header("content-type")})


@module.route("POST", "/public", auth=False)
async def public(req: RouteRequest, ctx: Context) -> RouteResponse:
    """routes.public"""
    status = 200 if broken("routes.public") else 201
    return RouteResponse(status, {"authenticated": req.authenticated}, {"x-conformance": "yes"})


@module.route("GET", "/status/:code")
async def status(req: RouteRequest, ctx: Context) -> RouteResponse:
    """routes.status"""
    try:
        code = int(req.params["code"])
    except ValueError:
        return RouteResponse(400, {"error": "code must be a number"})
    return RouteResponse(200 if broken("routes.status") else code, {"code": code})


@module.route("GET", "/error")
async def error(req: RouteRequest, ctx: Context) -> RouteResponse:
    """routes.error"""
    if broken("routes.error"):
        return RouteResponse(200, {})
    raise HandlerError("boom")


async def slow(req: RouteRequest, ctx: Context) -> RouteResponse:
    """routes.deadline: sleeps (cancelled at the deadline), then answers."""
    ms = int(req.params["ms"])
    await asyncio.sleep(ms / 1000)
    return RouteResponse(200, {"slept": ms})


module.register_route("GET", "/slow/:ms", slow, timeout=None if broken("routes.deadline") else 1.0)


@module.route("GET", "/crash")
async def crash(req: RouteRequest, ctx: Context) -> RouteResponse:
    """lifecycle.crash: exits at once without answering."""
    os._exit(1)


# ---- ctx -------------------------------------------------------------------------------------


@module.route("PUT", "/kv/:key")
async def kv_put(req: RouteRequest, ctx: Context) -> RouteResponse:
    """ctx.storage"""
    value = {"broken": True} if broken("ctx.storage") else req.body
    await ctx.storage.set(req.params["key"], value)
    return RouteResponse.empty(204)


@module.route("GET", "/kv/:key")
async def kv_get(req: RouteRequest, ctx: Context) -> RouteResponse:
    entry = await ctx.storage.get_entry(req.params["key"])
    if entry is None:
        return not_found()
    return RouteResponse(200, entry.value) if entry.value is not None else RouteResponse.bytes(
        200, b"null", "application/json"
    )


@module.route("POST", "/contacts")
async def create_contact(req: RouteRequest, ctx: Context) -> RouteResponse:
    """ctx.contacts"""
    body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
    contact = await ctx.contacts.create(
        external_id=str(body.get("external_id") or ""), name=str(body.get("name") or "")
    )
    return RouteResponse(
        201, {"id": contact.id, "external_id": contact.external_id, "name": contact.name}
    )


@module.route("GET", "/contacts/by-external/:externalId")
async def find_contact(req: RouteRequest, ctx: Context) -> RouteResponse:
    if broken("ctx.contacts"):
        return not_found()
    contact = await ctx.contacts.find_by_external_id(req.params["externalId"])
    if contact is None:
        return not_found()
    return RouteResponse(200, {"id": contact.id, "name": contact.name, "attributes": contact.attributes})


@module.route("PATCH", "/contacts/:id")
async def update_contact(req: RouteRequest, ctx: Context) -> RouteResponse:
    body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
    contact = await ctx.contacts.update(req.params["id"], attributes=body.get("attributes"))
    return RouteResponse(200, {"id": contact.id, "attributes": contact.attributes})


@module.route("POST", "/messages")
async def send_message(req: RouteRequest, ctx: Context) -> RouteResponse:
    """ctx.messages: sends, then reads the message back."""
    body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
    sent = await ctx.messages.send(
        contact_id=str(body.get("contact_id") or ""), channel="sms", text=str(body.get("text") or "")
    )
    read_back = None if broken("ctx.messages") else await ctx.messages.get(sent.id)
    return RouteResponse(
        201,
        {
            "id": sent.id,
            "status": sent.status,
            "read_back_status": None if read_back is None else read_back.status,
        },
    )


@module.route("POST", "/workflows/:workflowId/trigger")
async def trigger(req: RouteRequest, ctx: Context) -> RouteResponse:
    """ctx.workflows: triggers, then reads the run back."""
    run = await ctx.workflows.trigger(req.params["workflowId"], payload=req.body)
    read_back = await ctx.workflows.get(run.id)
    return RouteResponse(
        202, {"run_id": run.id, "status": None if read_back is None else read_back.status}
    )


@module.route("GET", "/workflows/runs/:runId")
async def workflow_run(req: RouteRequest, ctx: Context) -> RouteResponse:
    """ctx.workflows"""
    run = None if broken("ctx.workflows") else await ctx.workflows.get(req.params["runId"])
    if run is None:
        return not_found()
    return RouteResponse(
        200, {"id": run.id, "status": run.status, "output": run.output, "error": run.error}
    )


@module.route("POST", "/log")
async def log(req: RouteRequest, ctx: Context) -> RouteResponse:
    """ctx.logger"""
    body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
    ctx.logger.info(str(body.get("message", "")), {"check": "ctx.logger"})
    return RouteResponse.empty(204)


@module.route("GET", "/host/default-channel/:key")
async def default_channel(req: RouteRequest, ctx: Context) -> RouteResponse:
    """ctx.default_channel: writes then reads storage through a Host client written from
    PROTOCOL.md alone, a raw grpcio channel with grpcio's default options (its default
    ``:authority`` for a ``unix:`` target is the percent-encoded socket path)."""
    if broken("ctx.default_channel"):
        return RouteResponse(200, {"value": None})
    key = req.params["key"]
    token = (("x-convotic-plugin-token", os.environ["CONVOTIC_PLUGIN_TOKEN"]),)
    value = json.dumps({"via": "default channel", "key": key}).encode()
    async with grpc.aio.insecure_channel("unix:" + os.environ["CONVOTIC_HOST_SOCKET"]) as channel:
        storage = host_pb2_grpc.StorageStub(channel)
        try:
            await storage.Set(
                host_pb2.StorageSetRequest(key=key, value_json=value), metadata=token, timeout=10
            )
            entry = await storage.Get(
                host_pb2.StorageGetRequest(key=key), metadata=token, timeout=10
            )
        except grpc.aio.AioRpcError as e:
            return RouteResponse(502, {"error": f"{e.code().name}: {e.details()}"})
    return RouteResponse(200, {"value": json.loads(entry.value_json) if entry.value_json else None})


# ---- worker: workers.retry_and_dead_letter ---------------------------------------------------


@module.worker("conformance.jobs", max_attempts=3)
async def job(msg: WorkerMessage, ctx: Context) -> None:
    payload: dict[str, Any] = msg.payload if isinstance(msg.payload, dict) else {}
    key = f"job:{payload.get('id', '')}"
    record = await ctx.storage.get(key) or {"attempts": [], "done": False}
    record.setdefault("attempts", []).append(msg.attempt)
    discard = bool(payload.get("discard", False))
    fail_times = int(payload.get("fail_times", 0) or 0)
    done = not discard and msg.attempt > fail_times
    record["done"] = done and not broken("workers.retry_and_dead_letter")
    await ctx.storage.set(key, record)
    if discard:
        raise Discard("discarded on purpose")
    if not done:
        raise HandlerError("failing on purpose", retryable=True)


# ---- cron: crons.run_now ---------------------------------------------------------------------


@module.cron("tick", schedule="0 0 1 1 *", timezone="UTC")
async def tick(tick: CronTick, ctx: Context) -> None:
    if broken("crons.run_now"):
        raise HandlerError("broken on purpose")
    await ctx.storage.set("cron:last", {"run_id": tick.run_id, "manual": tick.manual})


# ---- node: nodes.invoke ----------------------------------------------------------------------


@module.node(
    type="conformance_double",
    version="1.0.0",
    display_name="Double",
    category="Conformance",
    input_schema={
        "type": "object",
        "required": ["value"],
        "properties": {"value": {"type": "integer"}},
        "additionalProperties": False,
    },
    output_schema={
        "type": "object",
        "required": ["doubled"],
        "properties": {"doubled": {"type": "integer"}},
    },
    branches=["even", "odd"],
)
async def double(inv: NodeInvocation, ctx: Context) -> NodeOutput:
    value = int(inv.input["value"])
    if value == 13:
        raise HandlerError("unlucky", retryable=True)
    factor = 3 if broken("nodes.invoke") else 2
    return NodeOutput({"doubled": value * factor}, branch="even" if value % 2 == 0 else "odd")


# ---- block: blocks.connection_and_action -----------------------------------------------------

block = module.block(
    Block(
        "conformance-block",
        name="Conformance Block",
        connection_schema={
            "type": "object",
            "required": ["token"],
            "properties": {"token": {"type": "string"}, "label": {"type": "string"}},
        },
        secret_fields=["token"],
    )
)


@block.test_connection
async def test_connection(conn: Connection, ctx: Context) -> TestResult:
    if conn.get("token") == "good-token" or broken("blocks.connection_and_action"):
        return TestResult.success(account_label="conformance")
    return TestResult.failure("bad token: rejected")


@block.action(
    "whoami",
    input_schema={"type": "object"},
    output_schema={
        "type": "object",
        "required": ["token_length"],
        "properties": {"token_length": {"type": "integer"}},
    },
)
async def whoami(call: ActionCall, ctx: Context) -> dict[str, int]:
    token = call.connection.get("token")
    return {"token_length": len(token) if isinstance(token, str) else 0}
