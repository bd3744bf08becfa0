"""Test harness: an in-process fake supervisor that drives a module served by
:func:`convotic_sdk.serve` over a real Unix socket (health, Describe, Work lanes, Shutdown),
and a fake host serving the Host services (in-memory storage, contacts, messages, workflows,
logger) that checks the token on every call."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from convotic_sdk import Module, ServeOptions, serve
from convotic_sdk._pb import MAX_MESSAGE_BYTES, TOKEN_METADATA_KEY, host, host_grpc, plugin, plugin_grpc, work

T = TypeVar("T")

TOKEN = "f" * 64


def async_test(timeout: float = 30.0) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., None]]:
    """Runs an ``async`` test function with ``asyncio.run`` and a time limit."""

    def wrap(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> None:
            asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout))

        return run

    return wrap


async def wait_for_socket(path: Path, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise TimeoutError(f"nothing listens on {path}")
        await asyncio.sleep(0.01)


def route_invocation(
    id: int,
    method: str,
    route: str,
    params: dict[str, str] | None = None,
    *,
    timeout_ms: int = 0,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> work.SupervisorFrame:
    """A route invocation frame (``path`` is ``route`` with its parameters filled in)."""
    path = route
    for name, value in (params or {}).items():
        path = path.replace(f":{name}", value)
    request = work.RouteRequest(
        method=method,
        path=path,
        route=route,
        params=params or {},
        query=query or {},
        workspace="ws_test",
        authenticated=True,
    )
    if body is not None:
        request.body_kind = work.BODY_KIND_JSON
        request.body = json.dumps(body).encode()
        request.headers["content-type"] = "application/json"
    return work.SupervisorFrame(
        invocation=work.Invocation(id=id, timeout_ms=timeout_ms, request_id=f"req-{id}", route=request)
    )


class LaneClient:
    """One ``Work`` stream, driven like the supervisor drives it."""

    def __init__(self, stub: plugin_grpc.PluginStub, number: int) -> None:
        self.number = number
        self._queue: asyncio.Queue[work.SupervisorFrame | None] = asyncio.Queue()
        self._call = stub.Work(self._frames())

    async def _frames(self) -> AsyncIterator[work.SupervisorFrame]:
        while True:
            frame = await self._queue.get()
            if frame is None:
                return  # half-close
            yield frame

    async def open(self) -> None:
        await self.send(work.SupervisorFrame(open=work.LaneOpen(lane=self.number)))
        frame = await self.next()
        assert frame is not None and frame.WhichOneof("frame") == "ready", frame
        assert frame.ready.lane == self.number

    async def send(self, frame: work.SupervisorFrame) -> None:
        await self._queue.put(frame)

    def half_close(self) -> None:
        self._queue.put_nowait(None)

    async def next(self, timeout: float = 10.0) -> work.ModuleFrame | None:
        """The next frame, or ``None`` when the stream ended."""
        frame = await asyncio.wait_for(self._call.read(), timeout)
        if frame is grpc.aio.EOF:
            return None
        return frame

    async def outcome(self, timeout: float = 10.0) -> work.Outcome:
        frame = await self.next(timeout)
        assert frame is not None, "the lane ended"
        assert frame.WhichOneof("frame") == "outcome", frame
        return frame.outcome

    async def outcomes(self, count: int, timeout: float = 10.0) -> dict[int, work.Outcome]:
        found: dict[int, work.Outcome] = {}
        for _ in range(count):
            o = await self.outcome(timeout)
            assert o.id not in found, f"two outcomes for id {o.id}"
            found[o.id] = o
        return found

    async def status(self) -> grpc.StatusCode:
        return await self._call.code()


class FakeSupervisor:
    """Serves ``module`` in-process on a Unix socket and connects to it as the supervisor."""

    def __init__(self, module: Module, sock_dir: Path, host_socket: Path | None = None) -> None:
        self.module = module
        self.socket = sock_dir / "plugin.sock"
        self.options = ServeOptions(
            str(self.socket),
            host_socket=str(host_socket) if host_socket else None,
            token=TOKEN,
            module_name=module.name,
            workspace="ws_test",
            instance="i1",
        )
        self.server_task: asyncio.Task[None] | None = None
        self.channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> FakeSupervisor:
        self.server_task = asyncio.create_task(serve(self.module, self.options))
        await wait_for_socket(self.socket)
        self.channel = grpc.aio.insecure_channel(
            "unix:" + str(self.socket),
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
        )
        self.stub = plugin_grpc.PluginStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.channel is not None and self.server_task is not None
        await self.channel.close()
        if not self.server_task.done():
            self.server_task.cancel()
        try:
            await self.server_task
        except asyncio.CancelledError:
            pass

    async def check(self, service: str = "") -> int:
        response = await self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return response.status

    async def describe(
        self, versions: tuple[int, ...] = (1,), extra_features: tuple[str, ...] = ()
    ) -> plugin.DescribeResponse:
        return await self.stub.Describe(
            plugin.DescribeRequest(
                protocol_versions=list(versions),
                features=["work.cancel", "work.lanes", "shutdown.drain", *extra_features],
                supervisor_version="test",
            ),
            timeout=5,
        )

    async def lane(self, number: int = 0) -> LaneClient:
        lane = LaneClient(self.stub, number)
        await lane.open()
        return lane

    async def shutdown(self, grace_ms: int = 1000) -> plugin.ShutdownResponse:
        return await self.stub.Shutdown(
            plugin.ShutdownRequest(grace_ms=grace_ms, reason="test"), timeout=30
        )


# ---- fake host -------------------------------------------------------------------------------


def _token_ok(context: grpc.aio.ServicerContext) -> bool:
    return dict(context.invocation_metadata() or ()).get(TOKEN_METADATA_KEY) == TOKEN


class FakeHostState:
    """What the fake host stores and saw."""

    def __init__(self) -> None:
        self.storage: dict[str, tuple[bytes, int]] = {}
        self.contacts: dict[str, host.Contact] = {}
        self.logs: list[host.LogRequest] = []
        self.triggers: list[host.TriggerWorkflowRequest] = []
        self.runs: dict[str, host.WorkflowRun] = {}
        self.messages: dict[str, host.OutboundMessage] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []


def _guarded(state: FakeHostState, name: str) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
    def wrap(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        @functools.wraps(fn)
        async def run(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
            state.calls.append((name, dict(context.invocation_metadata() or ())))
            if not _token_ok(context):
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")
            return await fn(self, request, context)

        return run

    return wrap


def make_fake_host(state: FakeHostState) -> list[tuple[Any, Callable[[Any, grpc.aio.Server], None]]]:
    """Servicers of the fake host and their registration functions."""

    class Storage(host_grpc.StorageServicer):
        @_guarded(state, "storage.get")
        async def Get(self, request: host.StorageGetRequest, context: Any) -> host.StorageEntry:
            if request.key not in state.storage:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no key {request.key!r}")
            value, revision = state.storage[request.key]
            return host.StorageEntry(key=request.key, value_json=value, revision=revision)

        @_guarded(state, "storage.set")
        async def Set(self, request: host.StorageSetRequest, context: Any) -> host.StorageEntry:
            revision = state.storage.get(request.key, (b"", 0))[1] + 1
            state.storage[request.key] = (request.value_json, revision)
            return host.StorageEntry(key=request.key, value_json=request.value_json, revision=revision)

        @_guarded(state, "storage.delete")
        async def Delete(self, request: host.StorageDeleteRequest, context: Any) -> host.StorageDeleteResponse:
            return host.StorageDeleteResponse(deleted=state.storage.pop(request.key, None) is not None)

        @_guarded(state, "storage.list")
        async def List(self, request: host.StorageListRequest, context: Any) -> host.StorageListResponse:
            keys = sorted(k for k in state.storage if k.startswith(request.prefix))
            start = int(request.page_token or 0)
            page = keys[start : start + 2]  # tiny pages, to exercise paging
            next_token = str(start + 2) if start + 2 < len(keys) else ""
            return host.StorageListResponse(
                entries=[
                    host.StorageEntry(key=k, value_json=state.storage[k][0], revision=state.storage[k][1])
                    for k in page
                ],
                next_page_token=next_token,
            )

        @_guarded(state, "storage.compare_and_set")
        async def CompareAndSet(self, request: host.StorageCompareAndSetRequest, context: Any) -> host.StorageEntry:
            current = state.storage.get(request.key, (b"", 0))[1]
            if current != request.expected_revision:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "revision mismatch")
            state.storage[request.key] = (request.value_json, current + 1)
            return host.StorageEntry(key=request.key, value_json=request.value_json, revision=current + 1)

    class Contacts(host_grpc.ContactsServicer):
        @_guarded(state, "contacts.create")
        async def Create(self, request: host.CreateContactRequest, context: Any) -> host.Contact:
            if request.external_id and any(c.external_id == request.external_id for c in state.contacts.values()):
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, "external_id: already used")
            contact = host.Contact(
                id=f"ct_{len(state.contacts) + 1}",
                external_id=request.external_id,
                name=request.name,
                email=request.email,
                attributes_json=request.attributes_json or b"{}",
            )
            state.contacts[contact.id] = contact
            return contact

        @_guarded(state, "contacts.get")
        async def Get(self, request: host.GetContactRequest, context: Any) -> host.Contact:
            if request.id not in state.contacts:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such contact")
            return state.contacts[request.id]

        @_guarded(state, "contacts.find_by_external_id")
        async def FindByExternalId(self, request: host.FindByExternalIdRequest, context: Any) -> host.Contact:
            for contact in state.contacts.values():
                if contact.external_id == request.external_id:
                    return contact
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such contact")
            raise AssertionError("unreachable")

        @_guarded(state, "contacts.update")
        async def Update(self, request: host.UpdateContactRequest, context: Any) -> host.Contact:
            contact = state.contacts.get(request.id)
            if contact is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such contact")
                raise AssertionError("unreachable")
            if request.HasField("name"):
                contact.name = request.name
            if request.HasField("email"):
                contact.email = request.email
            if request.attributes_json:
                attributes = json.loads(contact.attributes_json or b"{}")
                for key, value in json.loads(request.attributes_json).items():
                    if value is None:
                        attributes.pop(key, None)
                    else:
                        attributes[key] = value
                contact.attributes_json = json.dumps(attributes).encode()
            return contact

    class Workflows(host_grpc.WorkflowsServicer):
        @_guarded(state, "workflows.trigger")
        async def Trigger(self, request: host.TriggerWorkflowRequest, context: Any) -> host.WorkflowRun:
            state.triggers.append(request)
            run = host.WorkflowRun(
                id=f"run_{len(state.triggers)}",
                workflow_id=request.workflow_id,
                payload_json=request.payload_json,
                status="queued",
            )
            state.runs[run.id] = run
            return run

        @_guarded(state, "workflows.get")
        async def Get(self, request: host.GetWorkflowRunRequest, context: Any) -> host.WorkflowRun:
            if request.id not in state.runs:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such run")
            return state.runs[request.id]

    class Messages(host_grpc.MessagesServicer):
        @_guarded(state, "messages.send")
        async def Send(self, request: host.SendMessageRequest, context: Any) -> host.OutboundMessage:
            message = host.OutboundMessage(
                id=f"msg_{len(state.messages) + 1}",
                contact_id=request.contact_id,
                conversation_id=request.conversation_id,
                channel=request.channel,
                text=request.text,
                content_json=request.content_json,
                status="queued",
            )
            state.messages[message.id] = message
            return message

        @_guarded(state, "messages.get")
        async def Get(self, request: host.GetMessageRequest, context: Any) -> host.OutboundMessage:
            if request.id not in state.messages:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such message")
            return state.messages[request.id]

    class Logger(host_grpc.LoggerServicer):
        @_guarded(state, "logger.log")
        async def Log(self, request: host.LogRequest, context: Any) -> host.LogResponse:
            state.logs.append(request)
            return host.LogResponse()

    return [
        (Storage(), host_grpc.add_StorageServicer_to_server),
        (Contacts(), host_grpc.add_ContactsServicer_to_server),
        (Workflows(), host_grpc.add_WorkflowsServicer_to_server),
        (Messages(), host_grpc.add_MessagesServicer_to_server),
        (Logger(), host_grpc.add_LoggerServicer_to_server),
    ]


class FakeHost:
    """The Host services on a Unix socket (async context manager)."""

    def __init__(self, sock_dir: Path) -> None:
        self.socket = sock_dir / "host.sock"
        self.state = FakeHostState()
        self._server: grpc.aio.Server | None = None

    async def __aenter__(self) -> FakeHost:
        self._server = grpc.aio.server()
        for servicer, add in make_fake_host(self.state):
            add(servicer, self._server)
        self._server.add_insecure_port("unix:" + str(self.socket))
        await self._server.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        await self._server.stop(0)
