"""JSON log lines on stderr: the SDK's own diagnostics, and the fallback of ``ctx.logger`` when
the host cannot take a line. The supervisor parses a line that is a JSON object into a
structured record: ``level`` and ``msg`` set the level and message, other keys become fields
(docs/PROTOCOL.md §3.3)."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["format_line", "emit"]


def format_line(level: str, msg: str, request_id: str = "", fields: Any = None) -> str:
    """One JSON log line (without the newline). Object fields are merged at the top level
    without overriding ``level``, ``msg`` and ``request_id``; any other value goes under
    ``fields``."""
    line: dict[str, Any] = {"level": level, "msg": msg}
    if request_id:
        line["request_id"] = request_id
    if isinstance(fields, dict):
        for key, value in fields.items():
            line.setdefault(str(key), value)
    elif fields is not None:
        line["fields"] = fields
    return json.dumps(line, ensure_ascii=False, default=repr)


def emit(level: str, msg: str, fields: Any = None, request_id: str = "") -> None:
    """Writes one line to stderr, ignoring write errors (there is nowhere else to report them)."""
    try:
        sys.stderr.write(format_line(level, msg, request_id, fields) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
