"""``ctx`` against a fake host on a Unix socket: every call carries the token (and the request
id), records map to dataclasses, NOT_FOUND lookups give ``None``, other failures raise
``HostError``; the logger ships lines to the host's Logger service. Also end to end: a route
handler using ``ctx`` through the Work stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from harness import TOKEN, FakeHost, FakeSupervisor, async_test, route_invocation

from convotic_sdk import Context, HostError, Module, RouteRequest, RouteResponse
from convotic_sdk._generated.convotic.host.v1 import host_pb2
from convotic_sdk._pb import TOKEN_METADATA_KEY
from convotic_sdk.host import Host


def context(host: FakeHost, request_id: str = "req-1") -> Context:
    return Context(Host(str(host.socket), TOKEN), module="m", request_id=request_id)


@async_test()
async def test_storage(sock_dir: Path) -> None:
    async with FakeHost(sock_dir) as host:
        ctx = context(host)
        assert await ctx.storage.get("absent") is None
        assert await ctx.storage.get("absent", default=0) == 0
        entry = await ctx.storage.set("k1", {"v": 1})
        assert (entry.key, entry.value, entry.revision) == ("k1", {"v": 1}, 1)
        assert await ctx.storage.get("k1") == {"v": 1}
        await ctx.storage.set("k2", [1, 2])
        await ctx.storage.set("k3", "three")
        await ctx.storage.set("other", None)
        entries = await ctx.storage.list("k")  # three entries over two pages
        assert [(e.key, e.value) for e in entries] == [("k1", {"v": 1}), ("k2", [1, 2]), ("k3", "three")]
        assert (await ctx.storage.get_entry("other")).value is None  # type: ignore[union-attr]
        assert await ctx.storage.compare_and_set("k1", {"v": 2}, expected_revision=7) is None
        updated = await ctx.storage.compare_and_set("k1", {"v": 2}, expected_revision=1)
        assert updated is not None and updated.revision == 2
        assert await ctx.storage.delete("k1") is True
        assert await ctx.storage.delete("k1") is False
        # Every call carried the token and the request id.
        assert host.state.calls
        for _, metadata in host.state.calls:
            assert metadata[TOKEN_METADATA_KEY] == TOKEN
            assert metadata["x-request-id"] == "req-1"


@async_test()
async def test_contacts_and_workflows(sock_dir: Path) -> None:
    async with FakeHost(sock_dir) as host:
        ctx = context(host)
        created = await ctx.contacts.create(external_id="ext-1", name="Ada", attributes={"tier": "gold"})
        assert (created.id, created.external_id, created.name, created.attributes) == (
            "ct_1", "ext-1", "Ada", {"tier": "gold"})
        found = await ctx.contacts.find_by_external_id("ext-1")
        assert found == created
        assert await ctx.contacts.find_by_external_id("nope") is None
        assert await ctx.contacts.get("ct_404") is None
        updated = await ctx.contacts.update("ct_1", name="Ada L.", attributes={"tier": None, "points": 3})
        assert (updated.name, updated.attributes) == ("Ada L.", {"points": 3})
        with pytest.raises(HostError) as err:
            await ctx.contacts.create(external_id="ext-1")
        assert err.value.code == grpc.StatusCode.ALREADY_EXISTS and err.value.is_already_exists
        assert not err.value.retryable
        assert str(err.value) == "contacts.create failed: ALREADY_EXISTS: external_id: already used"
        run = await ctx.workflows.trigger("wf_abc", payload={"order": 7}, idempotency_key="k")
        assert (run.id, run.workflow_id, run.payload, run.status) == ("run_1", "wf_abc", {"order": 7}, "queued")
        assert host.state.triggers[0].idempotency_key == "k"


@async_test()
async def test_messages_and_runs_read_back(sock_dir: Path) -> None:
    async with FakeHost(sock_dir) as host:
        ctx = context(host)
        sent = await ctx.messages.send(contact_id="ct_1", channel="sms", text="hi")
        message = await ctx.messages.get(sent.id)
        assert message is not None
        assert (message.id, message.status, message.text, message.provider_message_id, message.error) == (
            sent.id, "queued", "hi", "", "")
        host.state.messages["msg_failed"] = host_pb2.OutboundMessage(
            id="msg_failed", status="failed", provider_message_id="prov-1", error="invalid number")
        failed = await ctx.messages.get("msg_failed")
        assert failed is not None
        assert (failed.status, failed.provider_message_id, failed.error) == ("failed", "prov-1", "invalid number")
        assert await ctx.messages.get("msg_none") is None

        run = await ctx.workflows.trigger("wf_abc", payload={"n": 1})
        queued = await ctx.workflows.get(run.id)
        assert queued is not None
        assert (queued.id, queued.status, queued.payload, queued.output, queued.error) == (
            run.id, "queued", {"n": 1}, None, "")
        host.state.runs["run_done"] = host_pb2.WorkflowRun(
            id="run_done", status="succeeded", output_json=b'{"total": 3}')
        done = await ctx.workflows.get("run_done")
        assert done is not None
        assert (done.status, done.output, done.error) == ("succeeded", {"total": 3}, "")
        assert await ctx.workflows.get("run_none") is None


@async_test()
async def test_wrong_token_and_unimplemented(sock_dir: Path) -> None:
    async with FakeHost(sock_dir) as host:
        ctx = Context(Host(str(host.socket), "wrong"), module="m")
        with pytest.raises(HostError) as err:
            await ctx.storage.get("k")
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(HostError) as err:
            await context(host).conversations.get("cv_1")  # not served by the fake host
        assert err.value.code == grpc.StatusCode.UNIMPLEMENTED


@async_test()
async def test_detached_context() -> None:
    ctx = Context.detached("m")
    with pytest.raises(HostError) as err:
        await ctx.contacts.get("c1")
    assert err.value.code == grpc.StatusCode.UNAVAILABLE and err.value.retryable
    assert "CONVOTIC_HOST_SOCKET" in str(err.value)
    ctx.logger.info("goes to stderr")


@async_test()
async def test_logger_ships_lines_in_order(sock_dir: Path) -> None:
    async with FakeHost(sock_dir) as host:
        h = Host(str(host.socket), TOKEN)
        ctx = Context(h, module="m", request_id="req-9")
        ctx.logger.info("first", {"check": "ctx.logger"})
        ctx.logger.warn("second", count=2)
        ctx.logger.error("third", ["not", "an", "object"])
        await h.flush(5)
        assert [line.message for line in host.state.logs] == ["first", "second", "third"]
        assert [json.loads(line.fields_json) for line in host.state.logs] == [
            {"check": "ctx.logger"}, {"count": 2}, {"fields": ["not", "an", "object"]}]
        assert {line.request_id for line in host.state.logs} == {"req-9"}
        await h.close()


@async_test()
async def test_host_calls_never_outlive_the_invocation(sock_dir: Path) -> None:
    async with FakeHost(sock_dir) as host:
        ctx = context(host)
        ctx.deadline = asyncio.get_running_loop().time() + 0.2
        assert 0 < ctx._timeout() <= 0.2
        ctx.deadline = asyncio.get_running_loop().time() - 1
        assert ctx._timeout() == 0.001


@async_test()
async def test_ctx_through_the_work_stream(sock_dir: Path) -> None:
    module = Module("kv", "1.0.0")

    @module.route("PUT", "/kv/:key")
    async def put(req: RouteRequest, ctx: Context) -> RouteResponse:
        await ctx.storage.set(req.params["key"], req.body)
        ctx.logger.info("stored", key=req.params["key"])
        return RouteResponse.empty(204)

    @module.route("GET", "/kv/:key")
    async def get(req: RouteRequest, ctx: Context) -> RouteResponse:
        value = await ctx.storage.get(req.params["key"])
        return RouteResponse(404, {"error": "not found"}) if value is None else RouteResponse(200, value)

    @module.route("POST", "/sync-log")
    def sync_log(req: RouteRequest, ctx: Context) -> RouteResponse:
        ctx.logger.info("from a thread")  # a plain def runs in a worker thread
        return RouteResponse(200, {"ok": True})

    async with FakeHost(sock_dir) as host, FakeSupervisor(module, sock_dir, host.socket) as sup:
        lane = await sup.lane()
        frame = route_invocation(1, "PUT", "/kv/:key", {"key": "a"}, body={"x": 1})
        frame.invocation.route.method = "PUT"
        await lane.send(frame)
        assert (await lane.outcome()).route.status == 204
        await lane.send(route_invocation(2, "GET", "/kv/:key", {"key": "a"}))
        got = await lane.outcome()
        assert (got.route.status, json.loads(got.route.body)) == (200, {"x": 1})
        await lane.send(route_invocation(3, "GET", "/kv/:key", {"key": "b"}))
        assert (await lane.outcome()).route.status == 404
        assert [n for n, md in host.state.calls if md.get("x-request-id") == "req-1"] == ["storage.set"]
        await lane.send(route_invocation(4, "POST", "/sync-log"))
        assert (await lane.outcome()).route.status == 200
        for _ in range(200):
            if len(host.state.logs) == 2:
                break
            await asyncio.sleep(0.01)
        assert [(line.message, line.request_id) for line in host.state.logs] == [
            ("stored", "req-1"), ("from a thread", "req-4")]
