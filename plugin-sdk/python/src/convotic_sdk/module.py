"""A module and what it registers: :class:`Module` with its decorators (``route``,
``worker``, ``node``, ``cron``) and registration methods, and the definitions :class:`Route`,
:class:`Worker`, :class:`Node`, :class:`Block`, :class:`Action` and :class:`Cron`.

The SDK does not validate registrations: the supervisor checks the manifest when the module
starts and refuses an invalid one with a message naming the bad entry (docs/PROTOCOL.md §4.4).

Handlers are ``async def`` functions of ``(request, ctx)``. A plain ``def`` is accepted too and
runs in a worker thread (it cannot use ``ctx``'s async methods, and a deadline or a cancel
cannot stop it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Sequence, TypeVar, Union

from .types import (
    ActionCall,
    Connection,
    CronTick,
    NodeInvocation,
    RouteRequest,
    TestResult,
    WorkerMessage,
)

if TYPE_CHECKING:
    from .context import Context
    from .middleware import Middleware

__all__ = ["Module", "Route", "Worker", "Node", "Block", "Action", "Cron", "DEFAULT_MAX_IN_FLIGHT"]

#: Default of ``Module.max_in_flight`` (the protocol's default credit).
DEFAULT_MAX_IN_FLIGHT = 64

#: A JSON Schema: a dict (or ``True``/``False``), or its JSON text.
Schema = Union[dict[str, Any], bool, str, None]

RouteHandler = Callable[[RouteRequest, "Context"], Awaitable[Any]]
WorkerHandler = Callable[[WorkerMessage, "Context"], Awaitable[None]]
NodeHandler = Callable[[NodeInvocation, "Context"], Awaitable[Any]]
TestHandler = Callable[[Connection, "Context"], Awaitable[TestResult]]
ActionHandler = Callable[[ActionCall, "Context"], Awaitable[Any]]
CronHandler = Callable[[CronTick, "Context"], Awaitable[Union[str, None]]]

F = TypeVar("F", bound=Callable[..., Any])


def seconds_to_ms(seconds: float | None) -> int:
    """A timeout in seconds as protocol milliseconds: ``None``/0 → 0 (the supervisor's
    default), otherwise at least 1."""
    if not seconds:
        return 0
    return max(1, round(seconds * 1000))


def schema_text(schema: Schema) -> str:
    """A JSON Schema as manifest text: ``None`` → empty (any JSON value)."""
    if schema is None:
        return ""
    if isinstance(schema, str):
        return schema
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Route:
    """An HTTP route: ``method``, ``path`` pattern (``/orders/:orderId``), options and handler.

    ``auth=False`` lets anyone call it (verify callers yourself, e.g. with
    :class:`~convotic_sdk.middleware.SignatureVerifier`); ``timeout`` (seconds) is the deadline of
    one request (default 30 s); ``max_body_bytes`` limits the request body (default and maximum:
    the supervisor's limit); ``middleware`` runs in order before the handler.
    """

    method: str
    path: str
    handler: RouteHandler | None = None
    auth: bool = True
    timeout: float | None = None
    max_body_bytes: int = 0
    middleware: list[Middleware] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.method = self.method.upper()

    @property
    def label(self) -> str:
        """``METHOD /path``."""
        return f"{self.method} {self.path}"

    def match(self, path: str) -> dict[str, str] | None:
        """The parameters when ``path`` matches this route's pattern, else ``None``."""
        pattern = self.path.strip("/").split("/")
        actual = path.strip("/").split("/")
        if len(pattern) != len(actual):
            return None
        params: dict[str, str] = {}
        for p, a in zip(pattern, actual):
            if p.startswith(":"):
                if not a:
                    return None
                params[p[1:]] = a
            elif p != a:
                return None
        return params


@dataclass
class Worker:
    """A background handler consuming the messages of ``topic``.

    ``name`` (default: the topic) identifies it: two workers may consume one topic under
    different names. ``concurrency`` (default 1) bounds the messages it works on at once,
    ``max_attempts`` (default 5) the deliveries before a message goes to dead letters,
    ``timeout`` (seconds, default 60) one delivery.
    """

    topic: str
    handler: WorkerHandler | None = None
    name: str = ""
    concurrency: int = 0
    max_attempts: int = 0
    timeout: float | None = None

    @property
    def effective_name(self) -> str:
        """``name``, or the topic when it is empty."""
        return self.name or self.topic


@dataclass
class Node:
    """A workflow node type for the visual builder. ``branches`` name its outputs (none: one
    branch, ``default``); ``connection_block`` names a block whose connection it needs."""

    type: str
    version: str = "1.0.0"
    handler: NodeHandler | None = None
    display_name: str = ""
    description: str = ""
    category: str = ""
    icon: str = ""
    input_schema: Schema = None
    output_schema: Schema = None
    branches: list[str] = field(default_factory=list)
    connection_block: str = ""
    timeout: float | None = None


@dataclass
class Action:
    """An action of a :class:`Block`; its handler returns the JSON output."""

    name: str
    handler: ActionHandler | None = None
    display_name: str = ""
    description: str = ""
    input_schema: Schema = None
    output_schema: Schema = None
    timeout: float | None = None


class Block:
    """A Block integration with its own connection flow: a connection schema (``secret_fields``
    are encrypted at rest and never returned by any API), a test-connection handler and actions.

    Handlers can be given to the constructor (``test_connection=``, ``actions=[Action(...)]``)
    or with the decorators::

        sms = Block("regional-sms", name="Regional SMS", connection_schema={...},
                    secret_fields=["api_token"])

        @sms.test_connection
        async def test(conn: Connection, ctx: Context) -> TestResult: ...

        @sms.action("send_message", input_schema={...})
        async def send(call: ActionCall, ctx: Context) -> dict: ...

        module.block(sms)
    """

    def __init__(
        self,
        id: str,
        *,
        name: str = "",
        description: str = "",
        icon: str = "",
        connection_schema: Schema = None,
        secret_fields: Iterable[str] = (),
        test_connection: TestHandler | None = None,
        actions: Iterable[Action] = (),
        test_timeout: float | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.description = description
        self.icon = icon
        self.connection_schema = connection_schema
        self.secret_fields = list(secret_fields)
        self.actions = list(actions)
        self.test_timeout = test_timeout
        #: The test-connection handler.
        self.tester: TestHandler | None = test_connection

    def __repr__(self) -> str:
        return f"Block({self.id!r}, actions={[a.name for a in self.actions]!r})"

    def test_connection(self, handler: F) -> F:
        """Decorator: sets the test-connection handler, an ``async`` function of
        ``(Connection, ctx)`` returning a :class:`TestResult`."""
        self.tester = handler
        return handler

    def action(
        self,
        name: str,
        *,
        display_name: str = "",
        description: str = "",
        input_schema: Schema = None,
        output_schema: Schema = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Decorator: registers an action, an ``async`` function of ``(ActionCall, ctx)``
        returning its JSON output."""

        def register(handler: F) -> F:
            self.actions.append(
                Action(name, handler, display_name, description, input_schema, output_schema, timeout)
            )
            return handler

        return register

    def find_action(self, name: str) -> Action | None:
        """The action called ``name``."""
        return next((a for a in self.actions if a.name == name), None)


@dataclass
class Cron:
    """A scheduled job. ``schedule``: 5 fields (classic cron), 6 (leading seconds) or a
    shorthand (``@daily``...); ``timezone``: IANA name (default UTC); ``overlap``: ``"skip"``
    (default) or ``"allow"``; ``catch_up``: ``"none"`` (default) or ``"once"``; ``timeout``
    (seconds, default 15 min). The handler may return a note (``str``) kept in the run history.
    """

    name: str
    schedule: str
    handler: CronHandler | None = None
    timezone: str = ""
    overlap: str = "skip"
    catch_up: str = "none"
    timeout: float | None = None


class Module:
    """A Convotic Custom Module: a name (it must equal the name the operator configured), a
    version and its registrations.

    Register with decorators::

        module = Module("loyalty", "1.0.0")

        @module.route("GET", "/members/:email")
        async def member(req: RouteRequest, ctx: Context) -> RouteResponse: ...

    with the ``register_*`` methods (``module.register_route("GET", "/x", handler)``), or with a
    ``register(sdk)`` function given to the constructor (or defined by a subclass), which
    receives the module itself and runs once, when the module is served::

        def register(sdk: Module) -> None:
            sdk.register_route("GET", "/hello", hello)

        module = Module("hello", "1.0.0", register=register)
    """

    def __init__(
        self,
        name: str,
        version: str,
        *,
        register: Callable[[Module], None] | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.name = name
        self.version = version
        #: How many invocations the module works on at once across all lanes (the credit it
        #: grants the supervisor; at most 10 000).
        self.max_in_flight = max_in_flight
        self.routes: list[Route] = []
        self.workers: list[Worker] = []
        self.nodes: list[Node] = []
        self.blocks: list[Block] = []
        self.crons: list[Cron] = []
        self._register_fn = register
        self._registered = False

    def __repr__(self) -> str:
        return (
            f"Module({self.name!r}, {self.version!r}, routes={len(self.routes)}, "
            f"workers={len(self.workers)}, nodes={len(self.nodes)}, blocks={len(self.blocks)}, "
            f"crons={len(self.crons)})"
        )

    # ---- the register(sdk) hook ------------------------------------------------------------

    def register(self, sdk: Module) -> None:
        """Registers the module's entries; calls the ``register`` function given to the
        constructor. Subclasses may override it."""
        if self._register_fn is not None:
            self._register_fn(sdk)

    def ensure_registered(self) -> Module:
        """Runs :meth:`register` once (the SDK calls it before building the manifest)."""
        if not self._registered:
            self._registered = True
            self.register(self)
        return self

    # ---- registration methods --------------------------------------------------------------

    def register_route(
        self,
        method: str,
        path: str,
        handler: RouteHandler,
        *,
        auth: bool = True,
        timeout: float | None = None,
        max_body_bytes: int = 0,
        middleware: Sequence[Middleware] = (),
    ) -> Route:
        """Registers an HTTP route; see :class:`Route`."""
        route = Route(method, path, handler, auth, timeout, max_body_bytes, list(middleware))
        self.routes.append(route)
        return route

    def register_worker_handler(
        self,
        topic: str,
        handler: WorkerHandler,
        *,
        name: str = "",
        concurrency: int = 0,
        max_attempts: int = 0,
        timeout: float | None = None,
    ) -> Worker:
        """Registers a worker; see :class:`Worker`."""
        worker = Worker(topic, handler, name, concurrency, max_attempts, timeout)
        self.workers.append(worker)
        return worker

    def register_node_handler(self, node: Node) -> Node:
        """Registers a workflow node type; see :class:`Node`."""
        self.nodes.append(node)
        return node

    def register_block(self, block: Block) -> Block:
        """Registers a block; see :class:`Block`."""
        self.blocks.append(block)
        return block

    def register_cron(
        self,
        name: str,
        schedule: str,
        handler: CronHandler,
        *,
        timezone: str = "",
        overlap: str = "skip",
        catch_up: str = "none",
        timeout: float | None = None,
    ) -> Cron:
        """Registers a cron job; see :class:`Cron`."""
        cron = Cron(name, schedule, handler, timezone, overlap, catch_up, timeout)
        self.crons.append(cron)
        return cron

    # ---- decorators ------------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        timeout: float | None = None,
        max_body_bytes: int = 0,
        middleware: Sequence[Middleware] = (),
    ) -> Callable[[F], F]:
        """Decorator registering an HTTP route::

            @module.route("GET", "/orders/:orderId", auth=False, timeout=5)
            async def get_order(req: RouteRequest, ctx: Context) -> RouteResponse: ...

        The handler returns a :class:`RouteResponse`, another JSON value (sent as 200 JSON)
        or ``None`` (204).
        """
        def register(handler: F) -> F:
            self.register_route(
                method,
                path,
                handler,
                auth=auth,
                timeout=timeout,
                max_body_bytes=max_body_bytes,
                middleware=middleware,
            )
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """``@module.get(path)``: a ``GET`` route (options as :meth:`route`)."""
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """``@module.post(path)``: a ``POST`` route."""
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        """``@module.put(path)``: a ``PUT`` route."""
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """``@module.patch(path)``: a ``PATCH`` route."""
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """``@module.delete(path)``: a ``DELETE`` route."""
        return self.route("DELETE", path, **options)

    def worker(
        self,
        topic: str,
        *,
        name: str = "",
        concurrency: int = 0,
        max_attempts: int = 0,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Decorator registering a worker::

            @module.worker("orders.events", max_attempts=5, concurrency=4)
            async def on_order(msg: WorkerMessage, ctx: Context) -> None: ...

        Returning acknowledges the message; raise :class:`~convotic_sdk.errors.Retry` to have it
        delivered again, :class:`~convotic_sdk.errors.Discard` to dead-letter it.
        """

        def register(handler: F) -> F:
            self.register_worker_handler(
                topic,
                handler,
                name=name,
                concurrency=concurrency,
                max_attempts=max_attempts,
                timeout=timeout,
            )
            return handler

        return register

    def node(
        self,
        type: str,
        *,
        version: str = "1.0.0",
        display_name: str = "",
        description: str = "",
        category: str = "",
        icon: str = "",
        input_schema: Schema = None,
        output_schema: Schema = None,
        branches: Iterable[str] = (),
        connection_block: str = "",
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Decorator registering a workflow node type::

            @module.node(type="loyalty_lookup", version="1.0.0", branches=["found", "not_found"])
            async def lookup(inv: NodeInvocation, ctx: Context) -> NodeOutput: ...

        The handler returns a :class:`NodeOutput` (output and branch) or the output alone (on
        the ``default`` branch).
        """

        def register(handler: F) -> F:
            self.register_node_handler(
                Node(
                    type,
                    version,
                    handler,
                    display_name,
                    description,
                    category,
                    icon,
                    input_schema,
                    output_schema,
                    list(branches),
                    connection_block,
                    timeout,
                )
            )
            return handler

        return register

    def block(self, block: Block) -> Block:
        """Registers a :class:`Block` (same as :meth:`register_block`)."""
        return self.register_block(block)

    def cron(
        self,
        name: str,
        *,
        schedule: str,
        timezone: str = "",
        overlap: str = "skip",
        catch_up: str = "none",
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Decorator registering a cron job::

            @module.cron("nightly", schedule="0 2 * * *", timezone="Europe/Paris")
            async def nightly(tick: CronTick, ctx: Context) -> str | None: ...
        """

        def register(handler: F) -> F:
            self.register_cron(
                name,
                schedule,
                handler,
                timezone=timezone,
                overlap=overlap,
                catch_up=catch_up,
                timeout=timeout,
            )
            return handler

        return register

    # ---- lookups (first registration wins; the supervisor refuses duplicates anyway) -------

    def find_route(self, method: str, route: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route registered for ``method`` and pattern ``route``; when ``route`` is empty,
        the first route whose pattern matches ``path`` (with its parameters)."""
        if route:
            for r in self.routes:
                if r.method == method and r.path == route:
                    return r, {}
            return None
        for r in self.routes:
            if r.method == method:
                params = r.match(path)
                if params is not None:
                    return r, params
        return None

    def find_worker(self, handler: str, topic: str) -> Worker | None:
        """The worker with this effective name, else the first one on this topic."""
        for w in self.workers:
            if w.effective_name == handler:
                return w
        if handler:
            return None
        return next((w for w in self.workers if w.topic == topic), None)

    def find_node(self, node_type: str, version: str) -> Node | None:
        """The node of this type and version; an empty version picks the only or the highest
        one."""
        candidates = [n for n in self.nodes if n.type == node_type]
        if not version:
            return max(candidates, key=lambda n: _version_key(n.version), default=None)
        return next((n for n in candidates if n.version == version), None)

    def find_block(self, block_id: str) -> Block | None:
        """The block with this id."""
        return next((b for b in self.blocks if b.id == block_id), None)

    def find_cron(self, name: str) -> Cron | None:
        """The cron with this name."""
        return next((c for c in self.crons if c.name == name), None)


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a dotted version: numeric parts compare as numbers (1.10 > 1.9)."""
    key: list[tuple[int, int | str]] = []
    for part in version.replace("-", ".").replace("+", ".").split("."):
        key.append((1, int(part)) if part.isdigit() else (0, part))
    return tuple(key)
