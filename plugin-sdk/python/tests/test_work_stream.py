"""The module side of the protocol over a real Unix socket, driven by an in-process fake
supervisor: health, Describe, Work lanes (round trips, concurrency, deadlines, cancel, unknown
frames and kinds, half-close) and Shutdown (drain, abandon, exit)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from harness import FakeSupervisor, async_test, route_invocation

from convotic_sdk import Context, Module, RouteRequest, RouteResponse
from convotic_sdk._pb import work

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def make_module() -> Module:
    module = Module("streams", "2.0.0", max_in_flight=8)

    @module.route("GET", "/hello/:name")
    async def hello(req: RouteRequest, ctx: Context) -> RouteResponse:
        return RouteResponse(200, {"hello": req.params["name"], "workspace": ctx.workspace})

    @module.route("GET", "/sleep/:ms")
    async def sleep(req: RouteRequest, ctx: Context) -> RouteResponse:
        await asyncio.sleep(int(req.params["ms"]) / 1000)
        return RouteResponse(200, {"slept": int(req.params["ms"])})

    @module.route("POST", "/echo")
    async def echo(req: RouteRequest, ctx: Context) -> RouteResponse:
        return RouteResponse(201, {"body": req.body}, {"X-Echo": "yes"})

    return module


def body(outcome: work.Outcome) -> object:
    assert outcome.WhichOneof("result") == "route", outcome
    return json.loads(outcome.route.body)


@async_test()
async def test_health_and_describe(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        assert await sup.check("") == SERVING
        assert await sup.check("convotic.plugin.v1.Plugin") == SERVING
        first = await sup.describe((1,))
        assert first.protocol_version == 1
        assert set(first.features) == {"work.cancel", "work.lanes", "shutdown.drain", "work.batch"}
        assert first.manifest.name == "streams"
        assert first.manifest.sdk.language == "python"
        assert first.manifest.max_in_flight == 8
        assert [r.path for r in first.manifest.routes] == ["/hello/:name", "/sleep/:ms", "/echo"]
        # The same answer on every call; the highest common version is chosen.
        assert await sup.describe((3, 1, 2)) == first


@async_test()
async def test_describe_refuses_unknown_versions(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await sup.describe((2, 3))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "speaks protocol versions [1]" in (err.value.details() or "")


@async_test()
async def test_round_trip_on_two_lanes(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        lane0 = await sup.lane(0)
        lane1 = await sup.lane(1)
        await lane0.send(route_invocation(1, "GET", "/hello/:name", {"name": "ada"}))
        await lane1.send(route_invocation(2, "POST", "/echo", body={"x": [1, 2]}))
        one = await lane0.outcome()
        two = await lane1.outcome()
        assert one.id == 1 and body(one) == {"hello": "ada", "workspace": "ws_test"}
        assert two.id == 2 and two.route.status == 201
        assert body(two) == {"body": {"x": [1, 2]}}
        assert two.route.headers["x-echo"] == "yes"
        assert two.route.body_kind == work.BODY_KIND_JSON
        # The supervisor half-closes: each lane ends with status OK.
        lane0.half_close()
        lane1.half_close()
        assert await lane0.next() is None and await lane1.next() is None
        assert await lane0.status() == grpc.StatusCode.OK
        assert await lane1.status() == grpc.StatusCode.OK


@async_test()
async def test_invocations_run_concurrently(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        lane = await sup.lane()
        await lane.send(route_invocation(1, "GET", "/sleep/:ms", {"ms": "400"}))
        await lane.send(route_invocation(2, "GET", "/sleep/:ms", {"ms": "10"}))
        await lane.send(route_invocation(3, "GET", "/hello/:name", {"name": "x"}))
        order = [(await lane.outcome()).id for _ in range(3)]
        assert order[-1] == 1, order
        assert sorted(order) == [1, 2, 3]


@async_test()
async def test_deadline_cancel_and_unknowns(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        lane = await sup.lane()
        # Deadline counted from receipt.
        await lane.send(route_invocation(1, "GET", "/sleep/:ms", {"ms": "5000"}, timeout_ms=100))
        timed_out = await lane.outcome()
        assert timed_out.id == 1
        assert timed_out.error.code == work.ERROR_CODE_DEADLINE_EXCEEDED
        assert timed_out.error.retryable

        # Cancel: exactly one outcome, CANCELLED.
        await lane.send(route_invocation(2, "GET", "/sleep/:ms", {"ms": "5000"}))
        await asyncio.sleep(0.05)
        await lane.send(work.SupervisorFrame(cancel=work.Cancel(id=2, reason="caller went away")))
        cancelled = await lane.outcome()
        assert cancelled.id == 2
        assert cancelled.error.code == work.ERROR_CODE_CANCELLED
        assert not cancelled.error.retryable
        # A cancel of an answered or unknown id is ignored; so is an unknown frame variant.
        await lane.send(work.SupervisorFrame(cancel=work.Cancel(id=2)))
        await lane.send(work.SupervisorFrame(cancel=work.Cancel(id=999)))
        await lane.send(work.SupervisorFrame())
        # An invocation of an unknown kind and an unregistered route: NOT_FOUND.
        await lane.send(work.SupervisorFrame(invocation=work.Invocation(id=3, request_id="r3")))
        await lane.send(route_invocation(4, "GET", "/nope"))
        outcomes = await lane.outcomes(2)
        assert outcomes[3].error.code == work.ERROR_CODE_NOT_FOUND
        assert outcomes[4].error.code == work.ERROR_CODE_NOT_FOUND
        assert "GET /nope" in outcomes[4].error.message
        # Nothing more arrives for the ignored frames.
        lane.half_close()
        assert await lane.next() is None
        assert await lane.status() == grpc.StatusCode.OK


def batch_frame(ids: range, cancels: tuple[int, ...] = (), path: str = "/hello/:name") -> work.SupervisorFrame:
    invocations = [route_invocation(i, "GET", path, {"name": f"n{i}", "ms": "50"}).invocation for i in ids]
    return work.SupervisorFrame(
        batch=work.WorkBatch(
            invocations=invocations,
            cancels=[work.Cancel(id=i, reason="batched") for i in cancels],
        )
    )


@async_test()
async def test_a_work_batch_runs_its_invocations_then_its_cancels(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        await sup.describe()
        lane = await sup.lane()
        # Invocation 3 and its cancel travel in the same frame: the cancel applies to it.
        await lane.send(batch_frame(range(1, 4), cancels=(3, 77), path="/sleep/:ms"))
        first = await lane.outcome()
        assert first.id == 3
        assert first.error.code == work.ERROR_CODE_CANCELLED
        assert first.error.message == "cancelled: batched"
        # Without work.batch offered, each outcome travels in its own frame.
        rest = await lane.outcomes(2)
        assert sorted(rest) == [1, 2]
        assert all(o.WhichOneof("result") == "route" for o in rest.values())


@async_test()
async def test_outcomes_ready_together_leave_in_one_frame_when_offered(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        await sup.describe(extra_features=("work.batch",))
        lane = await sup.lane()
        await lane.send(batch_frame(range(1, 41)))
        seen: set[int] = set()
        largest = 0
        while len(seen) < 40:
            frame = await lane.next()
            assert frame is not None
            kind = frame.WhichOneof("frame")
            outcomes = [frame.outcome] if kind == "outcome" else list(frame.outcomes.outcomes)
            assert kind in ("outcome", "outcomes"), frame
            largest = max(largest, len(outcomes))
            for o in outcomes:
                assert o.id not in seen, f"two outcomes for id {o.id}"
                assert body(o)["hello"] == f"n{o.id}"
                seen.add(o.id)
        assert largest > 1, "every outcome travelled alone"
        # A lone invocation is answered alone, at once.
        await lane.send(route_invocation(100, "GET", "/hello/:name", {"name": "x"}))
        assert (await lane.outcome()).id == 100


@async_test()
async def test_with_batches_a_half_closed_lane_still_ends_after_its_outcomes(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        await sup.describe(extra_features=("work.batch",))
        for _ in range(5):
            lane = await sup.lane()
            await lane.send(batch_frame(range(1, 9)))
            lane.half_close()
            seen: set[int] = set()
            while True:
                frame = await lane.next(timeout=5)
                if frame is None:
                    break
                kind = frame.WhichOneof("frame")
                outcomes = [frame.outcome] if kind == "outcome" else list(frame.outcomes.outcomes)
                seen.update(o.id for o in outcomes)
            assert seen == set(range(1, 9))
            assert await lane.status() == grpc.StatusCode.OK


@async_test()
async def test_half_close_sends_what_is_owed(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        lane = await sup.lane()
        await lane.send(route_invocation(7, "GET", "/sleep/:ms", {"ms": "200"}))
        await asyncio.sleep(0.02)
        lane.half_close()
        owed = await lane.outcome()
        assert owed.id == 7 and body(owed) == {"slept": 200}
        assert await lane.next() is None
        assert await lane.status() == grpc.StatusCode.OK


@async_test()
async def test_shutdown_drains_in_flight_work(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        lane = await sup.lane()
        await lane.send(route_invocation(1, "GET", "/sleep/:ms", {"ms": "300"}))
        await asyncio.sleep(0.05)
        shutdown = asyncio.create_task(sup.shutdown(grace_ms=5000))
        await asyncio.sleep(0.05)
        assert await sup.check("") == NOT_SERVING
        assert await sup.check("convotic.plugin.v1.Plugin") == NOT_SERVING
        # New work while draining: UNAVAILABLE, retryable.
        await lane.send(route_invocation(2, "GET", "/hello/:name", {"name": "late"}))
        outcomes = await lane.outcomes(2)
        assert outcomes[2].error.code == work.ERROR_CODE_UNAVAILABLE and outcomes[2].error.retryable
        assert body(outcomes[1]) == {"slept": 300}
        assert (await shutdown).abandoned == 0
        lane.half_close()
        assert await lane.next() is None
        assert await lane.status() == grpc.StatusCode.OK
        # The server stops by itself after Shutdown.
        assert sup.server_task is not None
        await asyncio.wait_for(sup.server_task, 5)


@async_test()
async def test_shutdown_abandons_work_past_the_grace_period(sock_dir: Path) -> None:
    async with FakeSupervisor(make_module(), sock_dir) as sup:
        lane = await sup.lane()
        await lane.send(route_invocation(1, "GET", "/sleep/:ms", {"ms": "10000"}))
        await asyncio.sleep(0.05)
        response = await sup.shutdown(grace_ms=200)
        assert response.abandoned == 1
        abandoned = await lane.outcome()
        assert abandoned.id == 1
        assert abandoned.error.code == work.ERROR_CODE_UNAVAILABLE and abandoned.error.retryable
        lane.half_close()
        assert await lane.next() is None
        assert sup.server_task is not None
        await asyncio.wait_for(sup.server_task, 5)


@async_test()
async def test_large_messages(sock_dir: Path) -> None:
    """Requests up to 16 MiB are accepted; an answer over the limit becomes INTERNAL."""
    module = Module("big", "1.0.0")

    @module.route("POST", "/size")
    async def size(req: RouteRequest, ctx: Context) -> RouteResponse:
        return RouteResponse(200, {"bytes": len(req.raw_body)})

    @module.route("GET", "/huge")
    async def huge(req: RouteRequest, ctx: Context) -> RouteResponse:
        return RouteResponse.bytes(200, b"x" * (17 * 1024 * 1024))

    async with FakeSupervisor(module, sock_dir) as sup:
        lane = await sup.lane()
        frame = route_invocation(1, "POST", "/size")
        frame.invocation.route.body_kind = work.BODY_KIND_BYTES
        frame.invocation.route.body = b"y" * (10 * 1024 * 1024)
        await lane.send(frame)
        assert body(await lane.outcome()) == {"bytes": 10 * 1024 * 1024}
        await lane.send(route_invocation(2, "GET", "/huge"))
        too_big = await lane.outcome()
        assert too_big.error.code == work.ERROR_CODE_INTERNAL
        assert "too large" in too_big.error.message
