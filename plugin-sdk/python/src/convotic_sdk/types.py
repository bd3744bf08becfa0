"""What handlers receive and return: :class:`RouteRequest` / :class:`RouteResponse`,
:class:`WorkerMessage`, :class:`NodeInvocation` / :class:`NodeOutput`, :class:`Connection`,
:class:`ActionCall`, :class:`TestResult` and :class:`CronTick`.

JSON payloads (``*_json`` fields of the protocol) are exposed parsed: ``dict``, ``list``,
``str``, numbers, ``bool`` or ``None`` (an empty field is ``None``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from .errors import BadInput

__all__ = [
    "RouteRequest",
    "RouteResponse",
    "WorkerMessage",
    "NodeInvocation",
    "NodeOutput",
    "Connection",
    "ActionCall",
    "TestResult",
    "CronTick",
    "parse_json",
    "dump_json",
]


def parse_json(data: bytes, what: str = "JSON") -> Any:
    """Parses ``*_json`` bytes (empty means ``None``); invalid JSON raises :class:`BadInput`."""
    if not data:
        return None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as err:
        raise BadInput(f"invalid {what}: {err}") from None


def _json_default(value: Any) -> Any:
    """Extra types ``dump_json`` accepts: dataclasses, tuples/sets, datetimes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_json(value: Any) -> bytes:
    """Encodes a value as compact UTF-8 JSON (``None`` gives empty bytes: "no value").
    Raises ``TypeError``/``ValueError`` for values JSON cannot represent (``NaN`` too)."""
    if value is None:
        return b""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
    ).encode("utf-8")


def _ms_to_datetime(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if ms else None


@dataclass
class RouteRequest:
    """An HTTP request to one of the module's routes (served at
    ``/v1/modules/{module}{path}``)."""

    #: Upper-case HTTP method, e.g. ``"GET"``.
    method: str = "GET"
    #: Path inside the module, percent-decoded, e.g. ``"/orders/42"``.
    path: str = "/"
    #: The registered pattern that matched, e.g. ``"/orders/:orderId"``.
    route: str = ""
    #: Path parameters, e.g. ``{"orderId": "42"}``.
    params: dict[str, str] = field(default_factory=dict)
    #: Query parameters (decoded; the last value of a repeated name).
    query: dict[str, str] = field(default_factory=dict)
    #: The query string exactly as received, without ``?``.
    raw_query: str = ""
    #: Request headers, names lower-case; repeated headers joined with ``", "``.
    headers: dict[str, str] = field(default_factory=dict)
    #: The parsed JSON body; ``None`` when the body is empty or not JSON.
    body: Any = None
    #: The body exactly as received (also for JSON bodies, e.g. to check a signature).
    raw_body: bytes = b""
    #: Whether the body was JSON (and so is available parsed in :attr:`body`).
    body_is_json: bool = False
    #: The workspace the request belongs to.
    workspace: str = ""
    #: Whether the caller authenticated with a valid API key.
    authenticated: bool = False
    #: Peer address ``ip:port``, may be empty.
    remote_addr: str = ""
    #: Request id of the call (``X-Request-Id``).
    request_id: str = ""
    #: W3C trace context of the caller, may be empty.
    traceparent: str = ""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by name (case-insensitive)."""
        return self.headers.get(name.lower(), default)

    def param(self, name: str, default: str | None = None) -> str | None:
        """A path parameter by name."""
        return self.params.get(name, default)

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes raise :class:`BadInput`)."""
        try:
            return self.raw_body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput("the request body is not valid UTF-8") from None


@dataclass
class RouteResponse:
    """The answer to a route request.

    ``body`` is a JSON value (``dict``, ``list``, ``str``, number, ``bool``; dataclasses are
    converted), sent as ``application/json``; ``bytes`` are sent as they are (set a
    ``content-type`` header); ``None`` sends no body. ``status`` must be within 200-599.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {k.lower(): v for k, v in self.headers.items()}

    @classmethod
    def json(
        cls, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> RouteResponse:
        """A JSON response."""
        return cls(status, body, dict(headers or {}))

    @classmethod
    def text(
        cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8"
    ) -> RouteResponse:
        """A text response."""
        return cls(status, text.encode("utf-8"), {"content-type": content_type})

    @classmethod
    def bytes(
        cls, status: int, data: bytes, content_type: str = "application/octet-stream"
    ) -> RouteResponse:
        """A response with raw bytes and the given content-type."""
        return cls(status, bytes(data), {"content-type": content_type})

    @classmethod
    def empty(cls, status: int = 204) -> RouteResponse:
        """A response without a body."""
        return cls(status, None)

    def with_header(self, name: str, value: str) -> RouteResponse:
        """Adds or replaces a header (names are stored lower-case); returns ``self``."""
        self.headers[name.lower()] = value
        return self


@dataclass
class WorkerMessage:
    """A message delivered to a worker. Delivery is at least once: make handlers idempotent,
    keyed on :attr:`message_id`."""

    #: The worker's effective name (its ``name``, by default its topic).
    handler: str = ""
    #: The topic the message was published on.
    topic: str = ""
    #: Stable id of the message, the same on every delivery.
    message_id: str = ""
    #: The JSON payload, parsed.
    payload: Any = None
    #: The publisher's headers.
    headers: dict[str, str] = field(default_factory=dict)
    #: Delivery attempt, 1 on the first delivery.
    attempt: int = 1
    #: When the message was published, ms since the Unix epoch.
    published_at_ms: int = 0
    #: Request id of the invocation, for logs.
    request_id: str = ""

    @property
    def published_at(self) -> datetime | None:
        """:attr:`published_at_ms` as an aware UTC datetime."""
        return _ms_to_datetime(self.published_at_ms)


class Connection:
    """A Block connection as a handler sees it: its configuration with secrets decrypted.

    Its ``repr`` shows the configuration's field names, never their values, so logging a
    connection cannot leak a secret. Never log or return a secret field yourself.
    """

    __slots__ = ("id", "block_id", "config")

    def __init__(self, id: str = "", block_id: str = "", config: dict[str, Any] | None = None):
        #: Connection id (empty for a connection under test that is not stored yet).
        self.id = id
        #: The block the connection belongs to.
        self.block_id = block_id
        #: The configuration (a JSON object), secrets included.
        self.config: dict[str, Any] = config if config is not None else {}

    def get(self, name: str, default: Any = None) -> Any:
        """A top-level field of the configuration."""
        return self.config.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.config[name]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Connection)
            and (self.id, self.block_id, self.config) == (other.id, other.block_id, other.config)
        )

    def __repr__(self) -> str:
        return (
            f"Connection(id={self.id!r}, block_id={self.block_id!r}, "
            f"config_fields={sorted(self.config)!r})"
        )


@dataclass
class NodeInvocation:
    """A call to a workflow node."""

    node_type: str = ""
    node_version: str = ""
    #: The JSON input, already validated against the node's input schema.
    input: Any = None
    workflow_id: str = ""
    run_id: str = ""
    step_id: str = ""
    #: The connection, when the node declares ``connection_block``.
    connection: Connection | None = None
    #: Request id of the invocation, for logs.
    request_id: str = ""


@dataclass
class NodeOutput:
    """What a node returns: its JSON output and the branch taken (one of the node's declared
    branches; ``"default"`` for a node that declares none)."""

    output: Any = None
    branch: str = "default"


@dataclass
class ActionCall:
    """A call to one of a block's actions."""

    block_id: str = ""
    action: str = ""
    #: The connection the action runs with (secrets decrypted).
    connection: Connection = field(default_factory=Connection)
    #: The JSON input, validated against the action's input schema.
    input: Any = None
    #: Request id of the invocation, for logs.
    request_id: str = ""


@dataclass
class TestResult:
    """The result of testing a block connection. Credentials that do not work are a result
    (``ok=False`` with the provider's reason), not an error."""

    __test__ = False  # not a pytest test class

    ok: bool
    message: str = ""
    #: A label for the account the credentials belong to, e.g. a phone number.
    account_label: str = ""

    @classmethod
    def success(cls, account_label: str = "", message: str = "") -> TestResult:
        """The credentials work."""
        return cls(True, message, account_label)

    @classmethod
    def failure(cls, message: str) -> TestResult:
        """The credentials do not work, with the reason."""
        return cls(False, message)


@dataclass
class CronTick:
    """One run of a cron job."""

    cron: str = ""
    #: Unique id of this run.
    run_id: str = ""
    #: The tick's scheduled time and when it fired, ms since the Unix epoch.
    scheduled_at_ms: int = 0
    fired_at_ms: int = 0
    #: True for a "run now" request.
    manual: bool = False
    #: Request id of the invocation, for logs.
    request_id: str = ""

    @property
    def scheduled_at(self) -> datetime | None:
        """:attr:`scheduled_at_ms` as an aware UTC datetime."""
        return _ms_to_datetime(self.scheduled_at_ms)

    @property
    def fired_at(self) -> datetime | None:
        """:attr:`fired_at_ms` as an aware UTC datetime."""
        return _ms_to_datetime(self.fired_at_ms)
