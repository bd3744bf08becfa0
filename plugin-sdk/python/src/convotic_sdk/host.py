"""The connection to the Convotic host services (docs/PROTOCOL.md §8): a gRPC channel over
the Unix socket named by ``CONVOTIC_HOST_SOCKET``, created on first use; every call carries
the token (``x-convotic-plugin-token``), the invocation's ``x-request-id`` and ``traceparent``
and a deadline; failures become :class:`~convotic_sdk.errors.HostError`. Log lines of
``ctx.logger`` are shipped in order by a background task, and written to stderr when the host
cannot take them."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import grpc

from . import _log
from ._pb import MAX_MESSAGE_BYTES, TOKEN_METADATA_KEY, host, host_grpc
from .errors import HostError

__all__ = ["Host", "DEFAULT_CALL_TIMEOUT"]

#: Default deadline of one host call, in seconds.
DEFAULT_CALL_TIMEOUT = 10.0

#: Deadline of one ``Logger.Log`` call, in seconds.
_LOG_TIMEOUT = 2.0

#: Log lines queued for the host before new ones go straight to stderr.
_LOG_QUEUE = 4096

_LEVEL_NAMES = {
    host.LOG_LEVEL_TRACE: "trace",
    host.LOG_LEVEL_DEBUG: "debug",
    host.LOG_LEVEL_INFO: "info",
    host.LOG_LEVEL_WARN: "warn",
    host.LOG_LEVEL_ERROR: "error",
}


def log_request_to_stderr(line: host.LogRequest) -> None:
    """Writes a log line meant for the host to stderr instead, as a JSON object."""
    fields: Any = None
    if line.fields_json:
        try:
            fields = json.loads(line.fields_json)
        except ValueError:
            fields = None
    _log.emit(_LEVEL_NAMES.get(line.level, "info"), line.message, fields, line.request_id)


def _metadata_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()


class Host:
    """A handle on the host services of this instance. ``socket=None`` is a detached host:
    every call fails with ``UNAVAILABLE`` and logs go to stderr (handler unit tests)."""

    def __init__(
        self,
        socket: str | None,
        token: str | None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        self.socket = socket
        self._token = token
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._stubs: dict[str, Any] = {}
        self._logs: asyncio.Queue[host.LogRequest] | None = None
        self._shipper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # the token is never shown
        return f"Host(socket={self.socket!r})"

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Binds the host to the serving event loop (log lines from handler threads are
        handed to it)."""
        self._loop = loop

    @property
    def configured(self) -> bool:
        """Whether a host socket is configured."""
        return self.socket is not None

    def _channel_now(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._loop = asyncio.get_running_loop()
            self._channel = grpc.aio.insecure_channel(
                "unix:" + str(self.socket),
                options=[
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ],
            )
        return self._channel

    def stub(self, service: str) -> Any:
        """The client stub of ``service`` (``"Contacts"``, ``"Storage"``...)."""
        stub = self._stubs.get(service)
        if stub is None:
            stub = getattr(host_grpc, f"{service}Stub")(self._channel_now())
            self._stubs[service] = stub
        return stub

    def metadata(self, request_id: str = "", traceparent: str = "") -> list[tuple[str, str]]:
        """The metadata of one call."""
        md = []
        if self._token:
            md.append((TOKEN_METADATA_KEY, self._token))
        # Optional metadata: only values gRPC can carry (printable ASCII).
        if request_id and _metadata_safe(request_id):
            md.append(("x-request-id", request_id))
        if traceparent and _metadata_safe(traceparent):
            md.append(("traceparent", traceparent))
        return md

    async def call(
        self,
        name: str,
        service: str,
        method: str,
        request: Any,
        *,
        timeout: float | None = None,
        request_id: str = "",
        traceparent: str = "",
    ) -> Any:
        """Runs ``service.method(request)``; ``name`` (``"contacts.get"``) names the call in
        errors. Raises :class:`HostError`."""
        if self.socket is None:
            raise HostError(
                name,
                grpc.StatusCode.UNAVAILABLE,
                "no Convotic host is configured (CONVOTIC_HOST_SOCKET is not set)",
            )
        rpc: Callable[..., Any] = getattr(self.stub(service), method)
        try:
            return await rpc(
                request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self.metadata(request_id, traceparent),
            )
        except grpc.aio.AioRpcError as err:
            raise HostError(name, err.code(), err.details() or "") from None

    # ---- logs ------------------------------------------------------------------------------

    def log(self, line: host.LogRequest) -> None:
        """Queues a log line for the host; writes it to stderr when there is no host, when the
        queue is full, or when called outside the event loop's thread."""
        if self.socket is None:
            return log_request_to_stderr(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            # A synchronous handler running in a thread: hand the line to the serving loop.
            if self._loop is not None and self._loop.is_running():
                try:
                    self._loop.call_soon_threadsafe(self.log, line)
                    return None
                except RuntimeError:
                    pass
            return log_request_to_stderr(line)
        if self._logs is None:
            self._channel_now()
            self._logs = asyncio.Queue(_LOG_QUEUE)
            self._shipper = loop.create_task(self._ship_logs(self._logs))
        try:
            self._logs.put_nowait(line)
        except asyncio.QueueFull:
            log_request_to_stderr(line)

    async def _ship_logs(self, queue: asyncio.Queue[host.LogRequest]) -> None:
        """Sends queued lines to ``Logger.Log`` one at a time, so they keep their order."""
        while True:
            line = await queue.get()
            try:
                await self.call("logger.log", "Logger", "Log", line, timeout=_LOG_TIMEOUT)
            except HostError:
                log_request_to_stderr(line)
            except asyncio.CancelledError:
                log_request_to_stderr(line)
                raise
            finally:
                queue.task_done()

    async def flush(self, timeout: float = 1.0) -> None:
        """Waits (up to ``timeout`` seconds) until queued log lines have been sent."""
        if self._logs is not None:
            try:
                await asyncio.wait_for(self._logs.join(), timeout)
            except asyncio.TimeoutError:
                pass

    async def close(self) -> None:
        """Writes unsent log lines to stderr and closes the channel."""
        if self._shipper is not None:
            self._shipper.cancel()
            try:
                await self._shipper
            except (asyncio.CancelledError, Exception):
                pass
            self._shipper = None
        if self._logs is not None:
            while not self._logs.empty():
                log_request_to_stderr(self._logs.get_nowait())
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stubs.clear()
