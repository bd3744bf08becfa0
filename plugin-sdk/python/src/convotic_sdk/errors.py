"""Errors a handler raises, and the error of a failed ``ctx`` call.

How a raised exception becomes the invocation's outcome (docs/PROTOCOL.md §5.7, §5.11):

==========================  =============================  ===================================
raised                      routes, nodes, blocks, crons   workers
==========================  =============================  ===================================
``HandlerError``            ``ERROR_CODE_HANDLER``         retried (``DISPOSITION_RETRY``)
``Retry(after=...)``        ``ERROR_CODE_HANDLER``,        retried no sooner than ``after``
                            retryable
``BadInput``                ``ERROR_CODE_BAD_INPUT``       dead-lettered (``DISPOSITION_DISCARD``)
``Discard``                 ``ERROR_CODE_HANDLER``         dead-lettered with the reason
``HostError``               ``ERROR_CODE_HANDLER``,        retried
                            retryable as the host says
any other exception         ``ERROR_CODE_INTERNAL``        retried (the supervisor maps it)
                            (``handler raised ...``)
==========================  =============================  ===================================

The message of an error is shown to callers: never put a secret in it.
"""

from __future__ import annotations

import json
from typing import Any

import grpc

__all__ = [
    "ConvoticError",
    "HandlerError",
    "BadInput",
    "Discard",
    "Retry",
    "HostError",
    "NotStartedBySupervisor",
]


class ConvoticError(Exception):
    """Base class of the SDK's errors."""


class HandlerError(ConvoticError):
    """A handler failed. ``message`` is shown to the caller (no secrets).

    ``retryable``: whether trying again later may succeed (workflow engines retry the node,
    callers may retry the request). ``details``: optional structured details (a JSON object is
    recommended; another value is wrapped as ``{"details": value}``).
    """

    def __init__(self, message: str, *, retryable: bool = False, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.details = details

    def details_json(self) -> bytes:
        """``details`` as ``Error.details_json`` (always a JSON object, empty when unset)."""
        if self.details is None:
            return b""
        details = self.details if isinstance(self.details, dict) else {"details": self.details}
        try:
            return json.dumps(details, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError):
            return json.dumps({"details": repr(self.details)}).encode()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, retryable={self.retryable})"


class BadInput(HandlerError):
    """The input is invalid (``ERROR_CODE_BAD_INPUT``, HTTP 400). Workers: the message is
    dead-lettered, since delivering the same payload again cannot succeed."""

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message, retryable=False, details=details)


class Discard(HandlerError):
    """Workers: give up on this message and move it to dead letters with ``reason``
    (``DISPOSITION_DISCARD``). Raised by another kind of handler it is a plain, non-retryable
    ``HandlerError``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=False)


class Retry(HandlerError):
    """A retryable failure. Workers: deliver the message again, no sooner than ``after``
    seconds when given (else per the supervisor's backoff schedule)."""

    def __init__(self, reason: str = "retry requested", *, after: float | None = None) -> None:
        super().__init__(reason, retryable=True)
        self.after = after


#: Host status codes after which trying again later may succeed.
_RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    }
)


class HostError(HandlerError):
    """A call to the Convotic host services (``ctx``) failed.

    ``call`` names it (``"contacts.create"``), ``code`` is the gRPC status code
    (``grpc.StatusCode.ALREADY_EXISTS``...), ``details`` the host's message. Raised out of a
    handler it is reported as a handler error, retryable when the code is (``UNAVAILABLE``,
    ``DEADLINE_EXCEEDED``, ``RESOURCE_EXHAUSTED``, ``CANCELLED``).
    """

    def __init__(self, call: str, code: grpc.StatusCode, message: str) -> None:
        text = f"{call} failed: {code.name}: {message}" if message else f"{call} failed: {code.name}"
        super().__init__(text, retryable=code in _RETRYABLE_CODES)
        self.call = call
        self.code = code
        self.host_message = message

    @property
    def is_not_found(self) -> bool:
        """The record does not exist (``NOT_FOUND``)."""
        return bool(self.code == grpc.StatusCode.NOT_FOUND)

    @property
    def is_conflict(self) -> bool:
        """A compare-and-set precondition failed (``FAILED_PRECONDITION``)."""
        return bool(self.code == grpc.StatusCode.FAILED_PRECONDITION)

    @property
    def is_already_exists(self) -> bool:
        """A uniqueness conflict, e.g. a duplicate external id (``ALREADY_EXISTS``)."""
        return bool(self.code == grpc.StatusCode.ALREADY_EXISTS)


class NotStartedBySupervisor(ConvoticError):
    """``CONVOTIC_PLUGIN_SOCKET`` is not set: the module was not started by the supervisor."""
