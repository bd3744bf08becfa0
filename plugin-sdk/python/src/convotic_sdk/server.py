"""Serving a module: the ``convotic.plugin.v1.Plugin`` service (``Describe``, ``Work``,
``Shutdown``) with ``grpc.health.v1.Health`` on the Unix socket named by
``CONVOTIC_PLUGIN_SOCKET``; :func:`serve` (an ``async`` function, for embedding and tests) and
:func:`run` (what ``python -m convotic_sdk run`` calls: reads the environment, handles
SIGTERM/SIGINT, exits the process).

Stopping (docs/PROTOCOL.md §7.1): on ``Shutdown`` (or SIGTERM/SIGINT) the module reports
NOT_SERVING, answers new invocations UNAVAILABLE, lets in-flight ones finish within the grace
period, answers the rest UNAVAILABLE, then stops and exits 0. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from . import _log
from ._pb import MAX_MESSAGE_BYTES, plugin, plugin_grpc
from .context import Context
from .dispatch import Dispatcher
from .errors import NotStartedBySupervisor
from .host import DEFAULT_CALL_TIMEOUT, Host
from .lanes import Lane, Lifecycle
from .manifest import FEATURES, PROTOCOL_VERSIONS, build_manifest, choose_version, missing_handlers
from .module import Module

__all__ = ["ServeOptions", "serve", "run", "started_by_supervisor", "EXIT_DO_NOT_RESTART"]

#: Exit code (EX_CONFIG) telling the supervisor not to restart the module: a configuration
#: problem a restart cannot fix. Log why on stderr first.
EXIT_DO_NOT_RESTART = 78

#: Grace period of a ``Shutdown`` that gives none, and of SIGTERM/SIGINT, in seconds.
DEFAULT_GRACE = 10.0

#: How long after answering ``Shutdown`` the server waits for the supervisor to half-close
#: the lanes before it stops anyway, in seconds.
_LANES_CLOSE_WAIT = 1.0

#: How long open calls get to finish when the server stops, in seconds.
_STOP_GRACE = 0.5

_SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Never refuse the supervisor's keepalive pings (at most one per 5 minutes).
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.keepalive_permit_without_calls", 1),
]


def started_by_supervisor() -> bool:
    """Whether the process was started by the supervisor (``CONVOTIC_PLUGIN_SOCKET`` is set).
    A module that checks its own configuration at import should check this first."""
    return bool(os.environ.get("CONVOTIC_PLUGIN_SOCKET"))


@dataclass
class ServeOptions:
    """Where and how to serve a module. :meth:`from_env` reads what the supervisor passes;
    the constructor takes a socket path alone (no host, no signals), for tests."""

    plugin_socket: str
    host_socket: str | None = None
    token: str | None = field(default=None, repr=False)
    module_name: str = ""
    workspace: str = ""
    instance: str = ""
    handle_signals: bool = False
    signal_grace: float = DEFAULT_GRACE
    host_timeout: float = DEFAULT_CALL_TIMEOUT

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeOptions:
        """The options the supervisor passes in the environment (docs/PROTOCOL.md §3.1);
        SIGTERM and SIGINT drain and stop the module. Raises :class:`NotStartedBySupervisor`
        when ``CONVOTIC_PLUGIN_SOCKET`` is not set."""
        env = os.environ if environ is None else environ

        def var(name: str) -> str | None:
            return env.get(name) or None

        socket = var("CONVOTIC_PLUGIN_SOCKET")
        if socket is None:
            raise NotStartedBySupervisor(
                "CONVOTIC_PLUGIN_SOCKET is not set: the module must be started by the Convotic supervisor"
            )
        return cls(
            plugin_socket=socket,
            host_socket=var("CONVOTIC_HOST_SOCKET"),
            token=var("CONVOTIC_PLUGIN_TOKEN"),
            module_name=var("CONVOTIC_MODULE") or "",
            workspace=var("CONVOTIC_WORKSPACE") or "",
            instance=var("CONVOTIC_INSTANCE") or "",
            handle_signals=True,
        )


class PluginService(plugin_grpc.PluginServicer):
    """The ``convotic.plugin.v1.Plugin`` service of one module."""

    def __init__(self, module: Module, dispatcher: Dispatcher, lifecycle: Lifecycle) -> None:
        self._manifest = build_manifest(module)
        self._dispatcher = dispatcher
        self._lifecycle = lifecycle
        self.stopping: asyncio.Task[None] | None = None
        #: Whether the supervisor offered ``work.batch`` in its last ``Describe``.
        self._batch_offered = False

    async def Describe(
        self, request: plugin.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> plugin.DescribeResponse:
        version = choose_version(request.protocol_versions)
        if version is None:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"this module speaks protocol versions {list(PROTOCOL_VERSIONS)}; "
                f"the supervisor offered {list(request.protocol_versions)}",
            )
        self._batch_offered = "work.batch" in request.features
        return plugin.DescribeResponse(
            protocol_version=version, features=list(FEATURES), manifest=self._manifest
        )

    async def Work(
        self, request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async for frame in Lane(self._dispatcher, self._lifecycle, self._batch_offered).serve(request_iterator):
            yield frame

    async def Shutdown(
        self, request: plugin.ShutdownRequest, context: grpc.aio.ServicerContext
    ) -> plugin.ShutdownResponse:
        grace = request.grace_ms / 1000 if request.grace_ms else DEFAULT_GRACE
        _log.emit(
            "info",
            "shutting down",
            {"reason": request.reason, "grace_ms": round(grace * 1000), "in_flight": self._lifecycle.owed()},
        )
        abandoned = await self._lifecycle.drain(grace)
        if self.stopping is None:
            self.stopping = asyncio.create_task(self._stop_after_lanes_close())
        return plugin.ShutdownResponse(abandoned=abandoned)

    async def _stop_after_lanes_close(self) -> None:
        """After ``Shutdown`` answered: the supervisor half-closes the lanes, which end once
        their outcomes are sent; then (or after a short wait) the server stops."""
        loop = asyncio.get_running_loop()
        end = loop.time() + _LANES_CLOSE_WAIT
        await asyncio.sleep(0.05)  # let the ShutdownResponse go out
        while self._lifecycle.lanes and loop.time() < end:
            await asyncio.sleep(0.02)
        self._lifecycle.request_stop()


def _bind_path(path: str) -> None:
    """Removes a stale socket file at ``path``."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def serve(module: Module, options: ServeOptions) -> None:
    """Serves ``module`` until it is stopped (``Shutdown``, or a signal when
    ``options.handle_signals``). Returns after a graceful stop."""
    module.ensure_registered()
    if options.module_name and options.module_name != module.name:
        _log.emit(
            "warn",
            f"the module calls itself {module.name!r} but is configured as "
            f"{options.module_name!r}: the supervisor will refuse it",
        )
    for what in missing_handlers(module):
        _log.emit("warn", f"{what} has no handler: its calls will fail")

    host = Host(options.host_socket, options.token, options.host_timeout)
    host.attach(asyncio.get_running_loop())

    def context(workspace: str, request_id: str, traceparent: str, deadline: float | None) -> Context:
        return Context(
            host,
            module=module.name,
            workspace=workspace or options.workspace,
            instance=options.instance,
            request_id=request_id,
            traceparent=traceparent,
            deadline=deadline,
        )

    health = health_aio.HealthServicer()
    lifecycle = Lifecycle(health)
    dispatcher = Dispatcher(module, context)
    service = PluginService(module, dispatcher, lifecycle)

    server = grpc.aio.server(options=_SERVER_OPTIONS)
    plugin_grpc.add_PluginServicer_to_server(service, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    _bind_path(options.plugin_socket)
    if not server.add_insecure_port("unix:" + options.plugin_socket):
        raise OSError(f"cannot listen on {options.plugin_socket}")
    await lifecycle.set_health(True)
    await server.start()
    _log.emit(
        "info",
        "serving",
        {"module": module.name, "version": module.version, "socket": options.plugin_socket},
    )

    loop = asyncio.get_running_loop()
    signal_task: asyncio.Task[None] | None = None
    if options.handle_signals:
        signalled = asyncio.Event()
        received: list[str] = []

        def on_signal(name: str) -> None:
            received.append(name)
            if len(received) > 1:
                _log.emit("info", f"second signal ({name}): stopping now")
                lifecycle.request_stop()
            signalled.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)

        async def drain_on_signal() -> None:
            await signalled.wait()
            _log.emit("info", f"{received[0]}: draining", {"grace_ms": round(options.signal_grace * 1000)})
            abandoned = await lifecycle.drain(options.signal_grace)
            if abandoned:
                _log.emit("warn", f"{abandoned} invocation(s) abandoned at the end of the grace period")
            lifecycle.request_stop()

        signal_task = loop.create_task(drain_on_signal())

    try:
        await lifecycle.stop_requested.wait()
    finally:
        if signal_task is not None:
            signal_task.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        lifecycle.abandon_all()
        await host.flush()
        await server.stop(_STOP_GRACE)
        await host.close()
        _bind_path(options.plugin_socket)
        _log.emit("info", "stopped")


def usage_line(name: str) -> str:
    """The one line printed when the module is started by hand (docs/PROTOCOL.md §3.2)."""
    return (
        f"{name}: this is a Convotic module, started by the Convotic supervisor "
        "(CONVOTIC_PLUGIN_SOCKET is not set); to run it, add it to a supervisor config "
        '([[modules]] command = "/usr/bin/python3", args = ["-m", "convotic_sdk", "run", "<module.py>"], '
        "see plugin-sdk/python/README.md) and start convotic-supervisor run --config <file>"
    )


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Caps glibc's malloc arenas (``M_ARENA_MAX``). gRPC's threads would each reserve a
    64 MiB arena of address space; where the supervisor limits memory with ``RLIMIT_AS``
    (hosts without a memory cgroup) that reservation alone nears the default 512 MiB. An
    explicit ``MALLOC_ARENA_MAX`` in the environment wins; elsewhere than glibc this does
    nothing."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        m_arena_max = -8
        ctypes.CDLL(None).mallopt(m_arena_max, arenas)


def run(module: Module) -> None:
    """Runs ``module`` as the supervisor expects, then exits the process: 0 after a graceful
    stop, 1 on error. Started by hand (no ``CONVOTIC_PLUGIN_SOCKET``) it prints one line
    saying how to run it and exits 2."""
    sys.dont_write_bytecode = True
    limit_malloc_arenas()
    try:
        options = ServeOptions.from_env()
    except NotStartedBySupervisor:
        print(usage_line(module.name), file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(serve(module, options))
    except Exception as err:  # noqa: BLE001
        _log.emit("error", f"the module failed: {type(err).__name__}: {err}")
        _exit(1)
    _exit(0)


def _exit(code: int) -> None:
    """Exits at once (a handler stuck in a thread must not keep the process alive)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
