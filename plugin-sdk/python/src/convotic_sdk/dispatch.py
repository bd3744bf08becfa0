"""Runs one invocation: finds the registered handler, converts the request, runs the handler
(through the route's middleware) and converts its return value, or the exception it raised,
into the ``Outcome`` result (docs/PROTOCOL.md §5.2, §5.7, §5.10-5.14). Deadlines and
cancellation are the lane's business (:mod:`convotic_sdk.lanes`)."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from typing import Any, Callable

from . import _log
from ._pb import work as pb
from .context import Context
from .errors import BadInput, Discard, HandlerError, Retry
from .middleware import chain
from .module import Module
from .types import (
    ActionCall,
    Connection,
    CronTick,
    NodeInvocation,
    NodeOutput,
    RouteRequest,
    RouteResponse,
    TestResult,
    WorkerMessage,
    dump_json,
    parse_json,
)

__all__ = ["Dispatcher", "error_outcome", "exception_outcome"]

#: Builds the context of one invocation: (workspace, request_id, traceparent, deadline).
ContextFactory = Callable[[str, str, str, "float | None"], Context]


def error_outcome(
    id: int, code: pb.ErrorCode, message: str, retryable: bool = False, details_json: bytes = b""
) -> pb.Outcome:
    """An ``Outcome`` carrying an ``Error``."""
    return pb.Outcome(
        id=id,
        error=pb.Error(code=code, message=message, retryable=retryable, details_json=details_json),
    )


def exception_outcome(id: int, exc: BaseException) -> pb.Outcome:
    """The ``Error`` outcome of an exception raised by a handler (non-worker kinds)."""
    if isinstance(exc, BadInput):
        return error_outcome(id, pb.ERROR_CODE_BAD_INPUT, exc.message, exc.retryable, exc.details_json())
    if isinstance(exc, HandlerError):
        return error_outcome(id, pb.ERROR_CODE_HANDLER, exc.message, exc.retryable, exc.details_json())
    return error_outcome(id, pb.ERROR_CODE_INTERNAL, f"handler raised {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _log_exception(what: str, exc: BaseException, request_id: str) -> None:
    _log.emit(
        "error",
        f"{what} raised {_describe(exc)}",
        {"traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))},
        request_id,
    )


def _is_async(handler: Any) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(type(handler), "__call__", None)
    )


async def call_handler(handler: Callable[..., Any], *args: Any) -> Any:
    """Runs a handler: ``async`` ones on the event loop, plain functions in a worker thread."""
    if _is_async(handler):
        return await handler(*args)
    result = await asyncio.to_thread(handler, *args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _connection(conn: pb.Connection | None, block_id: str = "") -> Connection:
    if conn is None:
        return Connection(block_id=block_id)
    config = parse_json(conn.config_json, "connection config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise BadInput("the connection config is not a JSON object")
    return Connection(conn.id, conn.block_id or block_id, config)


def _route_result(id: int, value: Any) -> pb.Outcome:
    if value is None:
        return pb.Outcome(id=id, route=pb.RouteResponse(status=204, body_kind=pb.BODY_KIND_EMPTY))
    response = value if isinstance(value, RouteResponse) else RouteResponse(200, value)
    status = response.status
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        return error_outcome(
            id,
            pb.ERROR_CODE_INTERNAL,
            f"the route handler answered the invalid HTTP status {status!r} (must be 200-599)",
        )
    headers = {str(k).lower(): str(v) for k, v in response.headers.items()}
    body = response.body
    if body is None:
        kind, data = pb.BODY_KIND_EMPTY, b""
    elif isinstance(body, (bytes, bytearray, memoryview)):
        kind, data = pb.BODY_KIND_BYTES, bytes(body)
    else:
        try:
            kind, data = pb.BODY_KIND_JSON, dump_json(body)
        except (TypeError, ValueError) as err:
            return error_outcome(
                id, pb.ERROR_CODE_INTERNAL, f"the response body cannot be encoded as JSON: {err}"
            )
    return pb.Outcome(
        id=id, route=pb.RouteResponse(status=status, headers=headers, body_kind=kind, body=data)
    )


class Dispatcher:
    """Finds and runs the handlers of one module."""

    def __init__(self, module: Module, context: ContextFactory) -> None:
        self.module = module.ensure_registered()
        self._context = context

    async def run(self, inv: pb.Invocation, deadline: float | None) -> pb.Outcome:
        """Runs the invocation's handler to completion and returns its outcome (never raises,
        except ``CancelledError``)."""
        kind = inv.WhichOneof("kind")
        try:
            if kind == "route":
                return await self._route(inv, deadline)
            if kind == "message":
                return await self._worker(inv, deadline)
            if kind == "node":
                return await self._node(inv, deadline)
            if kind == "block_test":
                return await self._block_test(inv, deadline)
            if kind == "block_action":
                return await self._block_action(inv, deadline)
            if kind == "cron":
                return await self._cron(inv, deadline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must become an outcome
            if not isinstance(exc, HandlerError):
                _log_exception(f"the {kind} handler", exc, inv.request_id)
            return exception_outcome(inv.id, exc)
        return error_outcome(
            inv.id, pb.ERROR_CODE_NOT_FOUND, "invocation of an unknown kind (newer protocol?)"
        )

    def _ctx(self, inv: pb.Invocation, deadline: float | None, workspace: str = "") -> Context:
        return self._context(workspace, inv.request_id, inv.traceparent, deadline)

    @staticmethod
    def _not_found(inv: pb.Invocation, what: str) -> pb.Outcome:
        return error_outcome(inv.id, pb.ERROR_CODE_NOT_FOUND, what)

    @staticmethod
    def _no_handler(inv: pb.Invocation, what: str) -> pb.Outcome:
        return error_outcome(inv.id, pb.ERROR_CODE_INTERNAL, f"{what} was registered without a handler")

    async def _route(self, inv: pb.Invocation, deadline: float | None) -> pb.Outcome:
        req = inv.route
        found = self.module.find_route(req.method, req.route, req.path)
        if found is None:
            return self._not_found(inv, f"no route registered for {req.method} {req.route or req.path}")
        route, matched = found
        if route.handler is None:
            return self._no_handler(inv, f"route {route.label}")
        is_json = req.body_kind == pb.BODY_KIND_JSON
        request = RouteRequest(
            method=req.method,
            path=req.path,
            route=req.route or route.path,
            params={**matched, **dict(req.params)},
            query=dict(req.query),
            raw_query=req.raw_query,
            headers=dict(req.headers),
            body=parse_json(req.body, "JSON body") if is_json else None,
            raw_body=req.body,
            body_is_json=is_json,
            workspace=req.workspace,
            authenticated=req.authenticated,
            remote_addr=req.remote_addr,
            request_id=inv.request_id,
            traceparent=inv.traceparent,
        )
        ctx = self._ctx(inv, deadline, req.workspace)
        handler = route.handler

        async def run_handler(r: RouteRequest, c: Context) -> Any:
            return await call_handler(handler, r, c)

        result = await chain(route.middleware, run_handler)(request, ctx)
        return _route_result(inv.id, result)

    async def _worker(self, inv: pb.Invocation, deadline: float | None) -> pb.Outcome:
        msg = inv.message
        worker = self.module.find_worker(msg.handler, msg.topic)
        if worker is None:
            return self._not_found(
                inv, f"no worker registered for handler {msg.handler!r} / topic {msg.topic!r}"
            )
        if worker.handler is None:
            return self._no_handler(inv, f"worker {worker.effective_name}")
        disposition, reason, retry_after_ms = pb.DISPOSITION_ACK, "", 0
        try:
            message = WorkerMessage(
                handler=msg.handler,
                topic=msg.topic,
                message_id=msg.message_id,
                payload=parse_json(msg.payload_json, "JSON payload"),
                headers=dict(msg.headers),
                attempt=msg.attempt,
                published_at_ms=msg.published_at_ms,
                request_id=inv.request_id,
            )
            await call_handler(worker.handler, message, self._ctx(inv, deadline))
        except (Discard, BadInput) as exc:
            disposition, reason = pb.DISPOSITION_DISCARD, exc.message
        except Retry as exc:
            disposition, reason = pb.DISPOSITION_RETRY, exc.message
            if exc.after:
                retry_after_ms = min(max(1, round(exc.after * 1000)), 2**32 - 1)
        except HandlerError as exc:
            disposition, reason = pb.DISPOSITION_RETRY, exc.message
        return pb.Outcome(
            id=inv.id,
            message=pb.WorkerResult(
                disposition=disposition, reason=reason, retry_after_ms=retry_after_ms
            ),
        )

    async def _node(self, inv: pb.Invocation, deadline: float | None) -> pb.Outcome:
        call = inv.node
        node = self.module.find_node(call.node_type, call.node_version)
        if node is None:
            return self._not_found(inv, f"no node {call.node_type!r} version {call.node_version!r}")
        if node.handler is None:
            return self._no_handler(inv, f"node {node.type} {node.version}")
        invocation = NodeInvocation(
            node_type=call.node_type,
            node_version=call.node_version,
            input=parse_json(call.input_json, "JSON input"),
            workflow_id=call.workflow_id,
            run_id=call.run_id,
            step_id=call.step_id,
            connection=_connection(call.connection) if call.HasField("connection") else None,
            request_id=inv.request_id,
        )
        result = await call_handler(node.handler, invocation, self._ctx(inv, deadline))
        output = result if isinstance(result, NodeOutput) else NodeOutput(result)
        return pb.Outcome(
            id=inv.id,
            node=pb.NodeResult(output_json=dump_json(output.output), branch=output.branch or "default"),
        )

    async def _block_test(self, inv: pb.Invocation, deadline: float | None) -> pb.Outcome:
        test = inv.block_test
        block = self.module.find_block(test.block_id)
        if block is None:
            return self._not_found(inv, f"no block registered with id {test.block_id!r}")
        if block.tester is None:
            return self._not_found(inv, f"block {block.id!r} has no test_connection handler")
        connection = _connection(
            test.connection if test.HasField("connection") else None, test.block_id
        )
        result = await call_handler(block.tester, connection, self._ctx(inv, deadline))
        if isinstance(result, bool):
            result = TestResult(result)
        if not isinstance(result, TestResult):
            return error_outcome(
                inv.id,
                pb.ERROR_CODE_INTERNAL,
                f"the test_connection handler of block {block.id!r} returned "
                f"{type(result).__name__}, not a TestResult",
            )
        return pb.Outcome(
            id=inv.id,
            block_test=pb.BlockTestResult(
                ok=result.ok, message=result.message, account_label=result.account_label
            ),
        )

    async def _block_action(self, inv: pb.Invocation, deadline: float | None) -> pb.Outcome:
        call = inv.block_action
        block = self.module.find_block(call.block_id)
        if block is None:
            return self._not_found(inv, f"no block registered with id {call.block_id!r}")
        action = block.find_action(call.action)
        if action is None:
            return self._not_found(inv, f"block {call.block_id!r} has no action {call.action!r}")
        if action.handler is None:
            return self._no_handler(inv, f"action {action.name} of block {block.id}")
        action_call = ActionCall(
            block_id=call.block_id,
            action=call.action,
            connection=_connection(
                call.connection if call.HasField("connection") else None, call.block_id
            ),
            input=parse_json(call.input_json, "JSON input"),
            request_id=inv.request_id,
        )
        result = await call_handler(action.handler, action_call, self._ctx(inv, deadline))
        return pb.Outcome(id=inv.id, block_action=pb.BlockActionResult(output_json=dump_json(result)))

    async def _cron(self, inv: pb.Invocation, deadline: float | None) -> pb.Outcome:
        tick = inv.cron
        cron = self.module.find_cron(tick.cron)
        if cron is None:
            return self._not_found(inv, f"no cron registered with name {tick.cron!r}")
        if cron.handler is None:
            return self._no_handler(inv, f"cron {cron.name}")
        result = await call_handler(
            cron.handler,
            CronTick(
                cron=tick.cron,
                run_id=tick.run_id,
                scheduled_at_ms=tick.scheduled_at_ms,
                fired_at_ms=tick.fired_at_ms,
                manual=tick.manual,
                request_id=inv.request_id,
            ),
            self._ctx(inv, deadline),
        )
        message = "" if result is None else result if isinstance(result, str) else str(result)
        return pb.Outcome(id=inv.id, cron=pb.CronResult(message=message))
