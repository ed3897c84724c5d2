"""How context values behave in a template, as in Handlebars.js: truthiness, text, HTML escaping.

Only dict, list, tuple, str, int, float, bool and None exist for the engine; `clean` maps anything
else to None (missing) without touching its attributes.
"""

import math
import re
from decimal import Decimal

_PLAIN = frozenset({dict, list, tuple, str, int, float, bool, type(None)})
_MAX_TEXT_DEPTH = 50


def clean(value: object) -> object:
    """The value as one of the plain types; subclasses of str/int/float/dict/list/tuple are accepted
    through their base type, anything else is None."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return dict.copy(value)
    if isinstance(value, list):
        return list.copy(value)
    if isinstance(value, tuple):
        return tuple.__getitem__(value, slice(None))
    return None


def is_truthy(value: object, *, include_zero: bool = False) -> bool:
    """Handlebars' `#if`: None, False, "", an empty list and 0 (unless include_zero) are false;
    every dict, even empty, is true."""
    if value is None or value is False or value == "":
        return False
    t = type(value)
    if t is list or t is tuple:
        return len(value) > 0
    if t is int or t is float:
        return value == value and (include_zero or value != 0)
    return True


def number_text(value: float) -> str:
    """A number as JavaScript prints it: 1.0 → "1", 1e21 → "1e+21", 1.5e-7 → "1.5e-7"."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" not in text:  # repr and JavaScript agree between 1e-4 and 1e16
        return text
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    k = len(text)
    n = exponent + len(digits)  # position of the decimal point relative to the digits
    if k <= n <= 21:
        body = text + "0" * (n - k)
    elif 0 < n <= 21:
        body = text[:n] + "." + text[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + text
    else:
        e = n - 1
        body = text[0] + ("." + text[1:] if k > 1 else "") + ("e+" if e > 0 else "e-") + str(abs(e))
    return ("-" if sign else "") + body


def to_text(value: object, _depth: int = 0) -> str:
    """A value as `{{value}}` shows it: lists comma-joined like JavaScript arrays, booleans as
    "true"/"false", None as "", a dict as "[object Object]"."""
    t = type(value)
    if t is str:
        return value
    if value is None:
        return ""
    if t is bool:
        return "true" if value else "false"
    if t is int:
        if -(10**21) < value < 10**21:
            return str(value)
        try:
            return number_text(float(value))
        except OverflowError:
            return "Infinity" if value > 0 else "-Infinity"
    if t is float:
        return number_text(value)
    if t is list or t is tuple:
        if _depth >= _MAX_TEXT_DEPTH:
            return ""
        return ",".join(to_text(item, _depth + 1) for item in value)
    if t is dict:
        return "[object Object]"
    return to_text(clean(value), _depth + 1) if _depth < _MAX_TEXT_DEPTH else ""


_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}
)
_NEEDS_ESCAPE = re.compile(r"[&<>\"'`=]")


def escape_html(text: str) -> str:
    """Handlebars.js escapeExpression: & < > " ' ` = become entities."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_ESCAPES)
