"""``ctx``: what a handler knows about its call (request id, workspace, deadline) and typed
clients of the Convotic host services: ``ctx.contacts``, ``ctx.conversations``,
``ctx.messages``, ``ctx.workflows``, ``ctx.storage`` and ``ctx.logger``.

Every method is a coroutine except the logger's. Lookups of one record (``get``,
``find_by_external_id``, ``storage.get``) return ``None`` when it does not exist; other
failures raise :class:`~convotic_sdk.errors.HostError` (its ``code`` is the gRPC status). Each
call has a deadline: 10 s, and never later than the invocation's own deadline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import grpc

from ._pb import host as pb
from .errors import HostError
from .host import DEFAULT_CALL_TIMEOUT, Host
from .types import dump_json, parse_json

__all__ = [
    "Context",
    "Contact",
    "ContactPage",
    "Conversation",
    "ConversationPage",
    "OutboundMessage",
    "WorkflowRun",
    "StorageEntry",
    "StoragePage",
    "Contacts",
    "Conversations",
    "Messages",
    "Workflows",
    "Storage",
    "Logger",
]


_INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _decode(call: str, data: bytes) -> Any:
    """Host ``*_json`` bytes, parsed (invalid JSON is a host error)."""
    try:
        return parse_json(data)
    except Exception as err:  # BadInput
        raise HostError(call, _INVALID, f"invalid JSON from the host: {err}") from None


def _encode(call: str, value: Any) -> bytes:
    try:
        return dump_json(value)
    except (TypeError, ValueError) as err:
        raise HostError(call, _INVALID, f"value is not JSON: {err}") from None


def _next_token(token: str) -> str | None:
    return token or None




# ---- records -------------------------------------------------------------------------------


@dataclass
class Contact:
    """A contact of the workspace."""

    id: str
    external_id: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    #: A JSON object.
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int = 0
    updated_at_ms: int = 0

    @classmethod
    def _from_pb(cls, call: str, c: pb.Contact) -> Contact:
        return cls(
            c.id,
            c.external_id,
            c.name,
            c.email,
            c.phone,
            _decode(call, c.attributes_json) or {},
            c.created_at_ms,
            c.updated_at_ms,
        )


@dataclass
class ContactPage:
    """One page of contacts; ``next_page_token`` is ``None`` on the last page."""

    contacts: list[Contact]
    next_page_token: str | None = None


@dataclass
class Conversation:
    """A conversation with a contact."""

    id: str
    contact_id: str = ""
    #: e.g. ``"whatsapp"``, ``"sms"``, ``"email"``, ``"web"``.
    channel: str = ""
    #: ``"open"`` or ``"closed"``.
    status: str = ""
    subject: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int = 0
    updated_at_ms: int = 0
    closed_at_ms: int = 0

    @classmethod
    def _from_pb(cls, call: str, c: pb.Conversation) -> Conversation:
        return cls(
            c.id,
            c.contact_id,
            c.channel,
            c.status,
            c.subject,
            _decode(call, c.attributes_json) or {},
            c.created_at_ms,
            c.updated_at_ms,
            c.closed_at_ms,
        )


@dataclass
class ConversationPage:
    """One page of conversations; ``next_page_token`` is ``None`` on the last page."""

    conversations: list[Conversation]
    next_page_token: str | None = None


@dataclass
class OutboundMessage:
    """A message queued in the outbox."""

    id: str
    contact_id: str = ""
    conversation_id: str = ""
    channel: str = ""
    text: str = ""
    content: Any = None
    #: ``"queued"`` (waiting for a delivery attempt), ``"sending"``, ``"sent"`` (a target
    #: accepted it), ``"delivered"`` (the provider reported it delivered) or ``"failed"``.
    status: str = ""
    created_at_ms: int = 0
    #: The provider's id for the message once a target accepted it, ``""`` before.
    provider_message_id: str = ""
    #: Why the last delivery attempt failed (or why the message failed for good), ``""``
    #: when there is none.
    error: str = ""

    @classmethod
    def _from_pb(cls, call: str, m: pb.OutboundMessage) -> OutboundMessage:
        return cls(
            m.id,
            m.contact_id,
            m.conversation_id,
            m.channel,
            m.text,
            _decode(call, m.content_json),
            m.status,
            m.created_at_ms,
            m.provider_message_id,
            m.error,
        )


@dataclass
class WorkflowRun:
    """A workflow run, as ``ctx.workflows.trigger`` recorded it or ``ctx.workflows.get``
    reads it back."""

    id: str
    workflow_id: str = ""
    payload: Any = None
    #: ``"queued"`` (waiting to be handed to the workspace's workflow engine),
    #: ``"sending"``, ``"delivered"`` (the engine accepted it), ``"running"``,
    #: ``"succeeded"`` or ``"failed"``.
    status: str = ""
    created_at_ms: int = 0
    #: The engine's output once the run succeeded, ``None`` otherwise.
    output: Any = None
    #: The engine's error once the run failed, or why handing it over failed; ``""`` when
    #: there is none.
    error: str = ""

    @classmethod
    def _from_pb(cls, call: str, r: pb.WorkflowRun) -> WorkflowRun:
        return cls(
            r.id,
            r.workflow_id,
            _decode(call, r.payload_json),
            r.status,
            r.created_at_ms,
            _decode(call, r.output_json),
            r.error,
        )


@dataclass
class StorageEntry:
    """A key of the module's storage, with its revision (for compare-and-set)."""

    key: str
    value: Any = None
    #: 1 when created, +1 on every write.
    revision: int = 0
    #: 0 = never expires.
    expires_at_ms: int = 0

    @classmethod
    def _from_pb(cls, call: str, e: pb.StorageEntry) -> StorageEntry:
        return cls(e.key, _decode(call, e.value_json), e.revision, e.expires_at_ms)


@dataclass
class StoragePage:
    """One page of storage entries; ``next_page_token`` is ``None`` on the last page."""

    entries: list[StorageEntry]
    next_page_token: str | None = None


def _ttl_ms(ttl: float | None) -> int:
    """A TTL in seconds as milliseconds (``None``/0 = no expiry, else at least 1 ms)."""
    if not ttl:
        return 0
    return max(1, round(ttl * 1000))


# ---- service clients -----------------------------------------------------------------------


class _Client:
    """Base of the clients: runs calls through the context."""

    _service = ""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def _call(self, name: str, method: str, request: Any) -> Any:
        return await self._ctx._call(name, self._service, method, request)

    async def _optional(self, name: str, method: str, request: Any) -> Any:
        try:
            return await self._call(name, method, request)
        except HostError as err:
            if err.is_not_found:
                return None
            raise


class Contacts(_Client):
    """``ctx.contacts``: contact records of the workspace."""

    _service = "Contacts"

    async def get(self, id: str) -> Contact | None:
        """The contact with this id, or ``None``."""
        c = await self._optional("contacts.get", "Get", pb.GetContactRequest(id=id))
        return None if c is None else Contact._from_pb("contacts.get", c)

    async def find_by_external_id(self, external_id: str) -> Contact | None:
        """The contact with this external id (e.g. the id in your CRM), or ``None``."""
        call = "contacts.find_by_external_id"
        c = await self._optional(
            call, "FindByExternalId", pb.FindByExternalIdRequest(external_id=external_id)
        )
        return None if c is None else Contact._from_pb(call, c)

    async def create(
        self,
        *,
        external_id: str = "",
        name: str = "",
        email: str = "",
        phone: str = "",
        attributes: dict[str, Any] | None = None,
    ) -> Contact:
        """Creates a contact. A non-empty ``external_id`` is unique in the workspace
        (``ALREADY_EXISTS`` otherwise)."""
        call = "contacts.create"
        request = pb.CreateContactRequest(
            external_id=external_id,
            name=name,
            email=email,
            phone=phone,
            attributes_json=_encode(call, attributes),
        )
        return Contact._from_pb(call, await self._call(call, "Create", request))

    async def update(
        self,
        id: str,
        *,
        external_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Contact:
        """Updates a contact: fields left ``None`` are unchanged, ``""`` clears one;
        ``attributes`` are merged (keys replace existing ones, a ``None`` value removes one)."""
        call = "contacts.update"
        request = pb.UpdateContactRequest(id=id, attributes_json=_encode(call, attributes))
        for name_, value in (
            ("external_id", external_id),
            ("name", name),
            ("email", email),
            ("phone", phone),
        ):
            if value is not None:
                setattr(request, name_, value)
        return Contact._from_pb(call, await self._call(call, "Update", request))

    async def delete(self, id: str) -> bool:
        """Deletes a contact; ``False`` when it did not exist."""
        response = await self._call("contacts.delete", "Delete", pb.DeleteContactRequest(id=id))
        return bool(response.deleted)

    async def list(self, *, page_size: int = 0, page_token: str | None = None) -> ContactPage:
        """One page of contacts, oldest first (``page_size`` 1-500, 0 = 50)."""
        call = "contacts.list"
        response = await self._call(
            call, "List", pb.ListContactsRequest(page_size=page_size, page_token=page_token or "")
        )
        return ContactPage(
            [Contact._from_pb(call, c) for c in response.contacts],
            _next_token(response.next_page_token),
        )

    async def all(self, *, page_size: int = 0) -> AsyncIterator[Contact]:
        """Every contact, oldest first, page after page: ``async for c in ctx.contacts.all()``."""
        token: str | None = None
        while True:
            page = await self.list(page_size=page_size, page_token=token)
            for contact in page.contacts:
                yield contact
            if page.next_page_token is None or page.next_page_token == token:
                return
            token = page.next_page_token


class Conversations(_Client):
    """``ctx.conversations``: conversations of the workspace."""

    _service = "Conversations"

    async def create(
        self,
        *,
        contact_id: str,
        channel: str,
        subject: str = "",
        attributes: dict[str, Any] | None = None,
    ) -> Conversation:
        """Opens a conversation with a contact of the workspace."""
        call = "conversations.create"
        request = pb.CreateConversationRequest(
            contact_id=contact_id,
            channel=channel,
            subject=subject,
            attributes_json=_encode(call, attributes),
        )
        return Conversation._from_pb(call, await self._call(call, "Create", request))

    async def get(self, id: str) -> Conversation | None:
        """The conversation with this id, or ``None``."""
        c = await self._optional("conversations.get", "Get", pb.GetConversationRequest(id=id))
        return None if c is None else Conversation._from_pb("conversations.get", c)

    async def update(
        self, id: str, *, subject: str | None = None, attributes: dict[str, Any] | None = None
    ) -> Conversation:
        """Updates a conversation (as :meth:`Contacts.update`)."""
        call = "conversations.update"
        request = pb.UpdateConversationRequest(id=id, attributes_json=_encode(call, attributes))
        if subject is not None:
            request.subject = subject
        return Conversation._from_pb(call, await self._call(call, "Update", request))

    async def list(
        self,
        *,
        contact_id: str = "",
        status: str = "",
        page_size: int = 0,
        page_token: str | None = None,
    ) -> ConversationPage:
        """One page of conversations, oldest first, optionally of one contact and/or with
        one status (``"open"``/``"closed"``)."""
        call = "conversations.list"
        response = await self._call(
            call,
            "List",
            pb.ListConversationsRequest(
                contact_id=contact_id,
                status=status,
                page_size=page_size,
                page_token=page_token or "",
            ),
        )
        return ConversationPage(
            [Conversation._from_pb(call, c) for c in response.conversations],
            _next_token(response.next_page_token),
        )

    async def close(self, id: str) -> Conversation:
        """Closes a conversation (idempotent)."""
        call = "conversations.close"
        return Conversation._from_pb(
            call, await self._call(call, "Close", pb.CloseConversationRequest(id=id))
        )


class Messages(_Client):
    """``ctx.messages``: outbound messages to contacts."""

    _service = "Messages"

    async def send(
        self,
        *,
        contact_id: str,
        channel: str,
        text: str = "",
        content: Any = None,
        conversation_id: str = "",
    ) -> OutboundMessage:
        """Queues a message (``text`` and/or structured ``content``) in the outbox."""
        call = "messages.send"
        request = pb.SendMessageRequest(
            contact_id=contact_id,
            conversation_id=conversation_id,
            channel=channel,
            text=text,
            content_json=_encode(call, content),
        )
        return OutboundMessage._from_pb(call, await self._call(call, "Send", request))

    async def get(self, id: str) -> OutboundMessage | None:
        """The message of the workspace with this id (with its delivery status), or ``None``."""
        m = await self._optional("messages.get", "Get", pb.GetMessageRequest(id=id))
        return None if m is None else OutboundMessage._from_pb("messages.get", m)


class Workflows(_Client):
    """``ctx.workflows``: triggering workflows and reading their runs back."""

    _service = "Workflows"

    async def trigger(
        self, workflow_id: str, payload: Any = None, *, idempotency_key: str = ""
    ) -> WorkflowRun:
        """Triggers a workflow with a JSON ``payload``; a second trigger with the same
        non-empty ``idempotency_key`` returns the first run."""
        call = "workflows.trigger"
        run = await self._call(
            call,
            "Trigger",
            pb.TriggerWorkflowRequest(
                workflow_id=workflow_id,
                payload_json=_encode(call, payload),
                idempotency_key=idempotency_key,
            ),
        )
        return WorkflowRun._from_pb(call, run)

    async def get(self, id: str) -> WorkflowRun | None:
        """The run of the workspace with this id, with its current status (and output or
        error once it finished), or ``None``."""
        r = await self._optional("workflows.get", "Get", pb.GetWorkflowRunRequest(id=id))
        return None if r is None else WorkflowRun._from_pb("workflows.get", r)


class Storage(_Client):
    """``ctx.storage``: key-value storage of the module in its workspace (shared by its
    instances, kept across restarts). Values are JSON; ``ttl`` is in seconds."""

    _service = "Storage"

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it is absent (or expired)."""
        entry = await self.get_entry(key)
        return default if entry is None else entry.value

    async def get_entry(self, key: str) -> StorageEntry | None:
        """The entry of ``key`` with its revision, or ``None``."""
        e = await self._optional("storage.get", "Get", pb.StorageGetRequest(key=key))
        return None if e is None else StorageEntry._from_pb("storage.get", e)

    async def set(self, key: str, value: Any, *, ttl: float | None = None) -> StorageEntry:
        """Creates or replaces ``key``; ``ttl`` (seconds) makes it expire."""
        call = "storage.set"
        request = pb.StorageSetRequest(key=key, value_json=_encode(call, value), ttl_ms=_ttl_ms(ttl))
        return StorageEntry._from_pb(call, await self._call(call, "Set", request))

    async def delete(self, key: str) -> bool:
        """Deletes ``key``; ``False`` when it was absent."""
        response = await self._call("storage.delete", "Delete", pb.StorageDeleteRequest(key=key))
        return bool(response.deleted)

    async def list_page(
        self, prefix: str = "", *, page_size: int = 0, page_token: str | None = None
    ) -> StoragePage:
        """One page of the entries whose key starts with ``prefix``, in key order."""
        call = "storage.list"
        response = await self._call(
            call,
            "List",
            pb.StorageListRequest(prefix=prefix, page_size=page_size, page_token=page_token or ""),
        )
        return StoragePage(
            [StorageEntry._from_pb(call, e) for e in response.entries],
            _next_token(response.next_page_token),
        )

    async def list(self, prefix: str = "") -> list[StorageEntry]:
        """Every entry whose key starts with ``prefix`` (all pages), in key order."""
        entries: list[StorageEntry] = []
        token: str | None = None
        while True:
            page = await self.list_page(prefix, page_token=token)
            entries.extend(page.entries)
            if page.next_page_token is None or page.next_page_token == token:
                return entries
            token = page.next_page_token

    async def compare_and_set(
        self, key: str, value: Any, expected_revision: int, *, ttl: float | None = None
    ) -> StorageEntry | None:
        """Writes ``value`` only if ``key`` is at ``expected_revision`` (0: only if absent);
        returns the new entry, or ``None`` when the revision did not match (re-read and
        retry)."""
        call = "storage.compare_and_set"
        request = pb.StorageCompareAndSetRequest(
            key=key,
            value_json=_encode(call, value),
            expected_revision=expected_revision,
            ttl_ms=_ttl_ms(ttl),
        )
        try:
            return StorageEntry._from_pb(call, await self._call(call, "CompareAndSet", request))
        except HostError as err:
            if err.is_conflict:
                return None
            raise


class Logger:
    """``ctx.logger``: structured logs, sent to the host's Logger service in order without
    blocking the handler (or to stderr as a JSON line when the host cannot take them). Fields
    are a dict and/or keyword arguments: ``ctx.logger.info("synced", {"count": 3}, shop="A")``.
    Never log secrets."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def log(self, level: str, message: str, fields: dict[str, Any] | None = None, **more: Any) -> None:
        """Logs at ``level`` (``trace``, ``debug``, ``info``, ``warn``/``warning``, ``error``)."""
        values: dict[str, Any] = {}
        if isinstance(fields, dict):
            values.update(fields)
        elif fields is not None:
            values["fields"] = fields
        values.update(more)
        try:
            fields_json = dump_json(values) if values else b""
        except (TypeError, ValueError):
            fields_json = dump_json({k: repr(v) for k, v in values.items()})
        self._ctx._host.log(
            pb.LogRequest(
                level=_LEVELS.get(level.lower(), pb.LOG_LEVEL_INFO),
                message=str(message),
                fields_json=fields_json,
                request_id=self._ctx.request_id,
            )
        )

    def trace(self, message: str, fields: dict[str, Any] | None = None, **more: Any) -> None:
        """Logs at level trace."""
        self.log("trace", message, fields, **more)

    def debug(self, message: str, fields: dict[str, Any] | None = None, **more: Any) -> None:
        """Logs at level debug."""
        self.log("debug", message, fields, **more)

    def info(self, message: str, fields: dict[str, Any] | None = None, **more: Any) -> None:
        """Logs at level info."""
        self.log("info", message, fields, **more)

    def warn(self, message: str, fields: dict[str, Any] | None = None, **more: Any) -> None:
        """Logs at level warn."""
        self.log("warn", message, fields, **more)

    warning = warn

    def error(self, message: str, fields: dict[str, Any] | None = None, **more: Any) -> None:
        """Logs at level error."""
        self.log("error", message, fields, **more)


_LEVELS = {
    "trace": pb.LOG_LEVEL_TRACE,
    "debug": pb.LOG_LEVEL_DEBUG,
    "info": pb.LOG_LEVEL_INFO,
    "warn": pb.LOG_LEVEL_WARN,
    "warning": pb.LOG_LEVEL_WARN,
    "error": pb.LOG_LEVEL_ERROR,
}


# ---- the context ---------------------------------------------------------------------------


class Context:
    """The context a handler runs in (``ctx``): the call's identity, its deadline and the
    host services."""

    def __init__(
        self,
        host: Host,
        *,
        module: str = "",
        workspace: str = "",
        instance: str = "",
        request_id: str = "",
        traceparent: str = "",
        deadline: float | None = None,
    ) -> None:
        self._host = host
        #: The module name.
        self.module = module
        #: The workspace the call belongs to.
        self.workspace = workspace
        #: The instance id (unique per start of the module), may be empty.
        self.instance = instance
        #: Request id of the call (``X-Request-Id`` for HTTP), may be empty.
        self.request_id = request_id
        #: W3C trace context of the caller, may be empty.
        self.traceparent = traceparent
        #: When the call's deadline passes, in event-loop time (``loop.time()``), or ``None``.
        self.deadline = deadline
        #: Default deadline of one host call, in seconds.
        self.call_timeout = host.timeout if host is not None else DEFAULT_CALL_TIMEOUT
        self.contacts = Contacts(self)
        self.conversations = Conversations(self)
        self.messages = Messages(self)
        self.workflows = Workflows(self)
        self.storage = Storage(self)
        self.logger = Logger(self)

    @classmethod
    def detached(cls, module: str = "test", **identity: Any) -> Context:
        """A context with no host: every host call raises ``HostError`` (``UNAVAILABLE``) and
        logs go to stderr. Useful in unit tests of handlers."""
        return cls(Host(None, None), module=module, **identity)

    def __repr__(self) -> str:
        return (
            f"Context(module={self.module!r}, workspace={self.workspace!r}, "
            f"request_id={self.request_id!r})"
        )

    def time_left(self) -> float | None:
        """Seconds until the call's deadline (``None`` without one; never negative)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def _timeout(self) -> float:
        left = self.time_left()
        if left is None:
            return self.call_timeout
        return max(0.001, min(self.call_timeout, left))

    async def _call(self, name: str, service: str, method: str, request: Any) -> Any:
        return await self._host.call(
            name,
            service,
            method,
            request,
            timeout=self._timeout(),
            request_id=self.request_id,
            traceparent=self.traceparent,
        )
