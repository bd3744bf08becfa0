"""The ``Describe`` handshake: the :func:`build_manifest` of a module's registrations, the
protocol version choice and the features the SDK implements (docs/PROTOCOL.md §4)."""

from __future__ import annotations

from typing import Iterable

from ._pb import manifest as pb
from .middleware import middleware_name
from .module import Block, Cron, Module, Node, Route, Worker, schema_text, seconds_to_ms

__all__ = ["SDK_NAME", "SDK_VERSION", "PROTOCOL_VERSIONS", "FEATURES", "build_manifest", "choose_version"]

#: Name of the SDK in the manifest.
SDK_NAME = "convotic-sdk-python"

#: Version of the SDK.
SDK_VERSION = "0.1.0"

#: Protocol versions the SDK speaks.
PROTOCOL_VERSIONS: tuple[int, ...] = (1,)

#: Optional features the SDK implements (docs/PROTOCOL.md, "Features").
FEATURES: tuple[str, ...] = ("work.cancel", "work.lanes", "shutdown.drain", "work.batch")

_OVERLAP = {"skip": pb.OVERLAP_POLICY_SKIP, "allow": pb.OVERLAP_POLICY_ALLOW}
_CATCH_UP = {"none": pb.CATCH_UP_POLICY_NONE, "once": pb.CATCH_UP_POLICY_ONCE}


def _route(r: Route) -> pb.RouteDef:
    return pb.RouteDef(
        method=r.method,
        path=r.path,
        auth=pb.AUTH_MODE_API_KEY if r.auth else pb.AUTH_MODE_NONE,
        timeout_ms=seconds_to_ms(r.timeout),
        max_body_bytes=r.max_body_bytes,
        middleware=[middleware_name(m) for m in r.middleware],
    )


def _worker(w: Worker) -> pb.WorkerDef:
    return pb.WorkerDef(
        topic=w.topic,
        name=w.effective_name,
        concurrency=w.concurrency,
        max_attempts=w.max_attempts,
        timeout_ms=seconds_to_ms(w.timeout),
    )


def _node(n: Node) -> pb.NodeDef:
    return pb.NodeDef(
        type=n.type,
        version=n.version,
        display_name=n.display_name,
        description=n.description,
        category=n.category,
        icon=n.icon,
        input_schema=schema_text(n.input_schema),
        output_schema=schema_text(n.output_schema),
        branches=list(n.branches),
        connection_block=n.connection_block,
        timeout_ms=seconds_to_ms(n.timeout),
    )


def _block(b: Block) -> pb.BlockDef:
    return pb.BlockDef(
        id=b.id,
        name=b.name,
        description=b.description,
        icon=b.icon,
        connection_schema=schema_text(b.connection_schema),
        secret_fields=list(b.secret_fields),
        actions=[
            pb.ActionDef(
                name=a.name,
                display_name=a.display_name,
                description=a.description,
                input_schema=schema_text(a.input_schema),
                output_schema=schema_text(a.output_schema),
                timeout_ms=seconds_to_ms(a.timeout),
            )
            for a in b.actions
        ],
        test_timeout_ms=seconds_to_ms(b.test_timeout),
    )


def _cron(c: Cron) -> pb.CronDef:
    return pb.CronDef(
        name=c.name,
        schedule=c.schedule,
        timezone=c.timezone,
        # An unknown policy name is sent as UNSPECIFIED, i.e. the default.
        overlap=_OVERLAP.get(c.overlap.lower(), pb.OVERLAP_POLICY_UNSPECIFIED),
        timeout_ms=seconds_to_ms(c.timeout),
        catch_up=_CATCH_UP.get(c.catch_up.lower(), pb.CATCH_UP_POLICY_UNSPECIFIED),
    )


def build_manifest(module: Module) -> pb.Manifest:
    """The manifest of ``module``'s registrations (runs its ``register`` hook first)."""
    module.ensure_registered()
    return pb.Manifest(
        name=module.name,
        version=module.version,
        sdk=pb.SdkInfo(name=SDK_NAME, version=SDK_VERSION, language="python"),
        max_in_flight=module.max_in_flight,
        routes=[_route(r) for r in module.routes],
        workers=[_worker(w) for w in module.workers],
        nodes=[_node(n) for n in module.nodes],
        blocks=[_block(b) for b in module.blocks],
        crons=[_cron(c) for c in module.crons],
    )


def choose_version(offered: Iterable[int]) -> int | None:
    """The highest offered protocol version the SDK speaks, or ``None``."""
    common = [v for v in offered if v in PROTOCOL_VERSIONS]
    return max(common) if common else None


def missing_handlers(module: Module) -> list[str]:
    """Registrations without a handler (their calls fail), for a warning at start."""
    missing = [f"route {r.label}" for r in module.routes if r.handler is None]
    missing += [f"worker {w.effective_name}" for w in module.workers if w.handler is None]
    missing += [f"node {n.type} {n.version}" for n in module.nodes if n.handler is None]
    for b in module.blocks:
        if b.tester is None:
            missing.append(f"test_connection of block {b.id}")
        missing += [f"action {a.name} of block {b.id}" for a in b.actions if a.handler is None]
    missing += [f"cron {c.name}" for c in module.crons if c.handler is None]
    return missing
