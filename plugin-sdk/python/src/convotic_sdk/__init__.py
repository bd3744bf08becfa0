"""Write Convotic Custom Modules in Python.

A module registers HTTP **routes**, background **workers**, workflow **nodes**, **blocks**
(an integration with its own connection flow and actions) and **crons**; the SDK serves them
over the Convotic plugin protocol (gRPC on a Unix socket) when the supervisor runs
``python3 -m convotic_sdk run module.py``. Handlers are ``async`` functions of
``(request, ctx)``; ``ctx`` gives the workspace's contacts, conversations, messages, workflows,
key-value storage and a logger::

    from convotic_sdk import Context, Module, RouteRequest, RouteResponse

    module = Module("hello", "1.0.0")

    @module.route("GET", "/hello/:name")
    async def hello(req: RouteRequest, ctx: Context) -> RouteResponse:
        return RouteResponse(200, {"hello": req.params["name"]})

Exports are loaded on first use, so ``python -m convotic_sdk.check_generated`` works even when
the generated code is missing or stale.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # module.py
    "Module": "module",
    "Route": "module",
    "Worker": "module",
    "Node": "module",
    "Block": "module",
    "Action": "module",
    "Cron": "module",
    # types.py
    "RouteRequest": "types",
    "RouteResponse": "types",
    "WorkerMessage": "types",
    "NodeInvocation": "types",
    "NodeOutput": "types",
    "Connection": "types",
    "ActionCall": "types",
    "TestResult": "types",
    "CronTick": "types",
    # errors.py
    "ConvoticError": "errors",
    "HandlerError": "errors",
    "BadInput": "errors",
    "Discard": "errors",
    "Retry": "errors",
    "HostError": "errors",
    # context.py
    "Context": "context",
    "Contact": "context",
    "ContactPage": "context",
    "Conversation": "context",
    "ConversationPage": "context",
    "OutboundMessage": "context",
    "WorkflowRun": "context",
    "StorageEntry": "context",
    "StoragePage": "context",
    # middleware.py
    "Next": "middleware",
    "SignatureVerifier": "middleware",
    "SignatureError": "middleware",
    "sign": "middleware",
    # server.py
    "run": "server",
    "serve": "server",
    "ServeOptions": "server",
    "started_by_supervisor": "server",
    "EXIT_DO_NOT_RESTART": "server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    submodule = _EXPORTS.get(name)
    if submodule is None:
        raise AttributeError(f"module 'convotic_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{submodule}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from .context import (
        Contact,
        ContactPage,
        Context,
        Conversation,
        ConversationPage,
        OutboundMessage,
        StorageEntry,
        StoragePage,
        WorkflowRun,
    )
    from .errors import BadInput, ConvoticError, Discard, HandlerError, HostError, Retry
    from .middleware import Next, SignatureError, SignatureVerifier, sign
    from .module import Action, Block, Cron, Module, Node, Route, Worker
    from .server import EXIT_DO_NOT_RESTART, ServeOptions, run, serve, started_by_supervisor
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
    )
