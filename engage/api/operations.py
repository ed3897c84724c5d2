"""The table of Pinpoint operations (from botocore's model, see scripts/pinpoint_operations.py).

Used to answer requests for operations Engage has not built with a clear error naming the
operation, and unknown routes with NotFound — never an HTML page, never a fake success.
"""

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("operations.json")


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    uri: str
    pattern: re.Pattern


def _compile(uri: str) -> re.Pattern:
    regex = ""
    for literal, label in re.findall(r"([^{]*)(?:\{([^}]*)\})?", uri):
        regex += re.escape(literal)
        if label:
            # Non-greedy labels are one segment on the wire, but an ARN label arrives decoded
            # with its slashes, so the tags resource takes the rest of the path.
            regex += ".+" if label.endswith("+") or label == "resource-arn" else "[^/]+"
    return re.compile(f"^{regex}/?$")


@cache
def operations() -> tuple[Operation, ...]:
    rows = json.loads(TABLE.read_text())
    return tuple(Operation(r["name"], r["method"], r["uri"], _compile(r["uri"])) for r in rows)


def match(path: str) -> list[Operation]:
    """Every operation whose URI template matches the (decoded) path."""
    return [op for op in operations() if op.pattern.match(path)]


def operation_for(method: str, path: str) -> Operation | None:
    return next((op for op in match(path) if op.method == method.upper()), None)


def unbuilt_message(method: str, path: str) -> str | None:
    """The message for a Pinpoint operation Engage does not implement yet, if (method, path) is one."""
    op = operation_for(method, path)
    if op is None:
        return None
    return f"Engage does not support the Pinpoint operation {op.name} ({op.method} {op.uri}) yet."


def method_not_allowed_message(method: str, path: str) -> str | None:
    """Why (method, path) has no operation although the path is a Pinpoint resource; None if it is not."""
    unbuilt = unbuilt_message(method, path)
    if unbuilt:
        return unbuilt
    candidates = match(path)
    if not candidates:
        return None
    allowed = ", ".join(sorted({op.method for op in candidates}))
    return f"{method.upper()} is not allowed here; this resource accepts {allowed}."
