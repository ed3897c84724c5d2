"""Pinpoint's helper table: the conditional, string, date, math and encoding helpers of its templates.

A helper is a plain function of already-evaluated arguments (`args`, `hash`) that returns a value; it
never sees the context, the template or Python objects other than the engine's plain values. Bad
arguments raise HelperError, which the renderer turns into a TemplateError naming the helper and its
line. A missing value (None) behaves as an empty string unless a helper says otherwise.

Condition helpers (`condition=True`) return a bool: as a block they choose the block or its `{{else}}`;
inline or as a sub-expression they give `yes=`/`no=` when passed, else true/false.
"""

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

from . import dates
from .errors import HelperError
from .limits import MAX_OUTPUT_CHARS
from .values import clean, is_truthy, to_text

Args = list[object]
Hash = dict[str, object]


@dataclass(frozen=True, slots=True)
class HelperSpec:
    """One helper: its function, how many positional arguments it takes, whether it is a condition."""

    fn: Callable[[Args, Hash], object] | None
    min_args: int = 0
    max_args: int | None = None
    condition: bool = False


# -- numbers -----------------------------------------------------------------------------------------

_DECIMAL = Context(prec=34, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")
_EIGHT_PLACES = Decimal("1e-8")


def _decimal(value: object) -> Decimal | None:
    """A number or numeric string (an attribute list gives its text) as a Decimal; None if it is not one."""
    t = type(value)
    if t is int:
        return Decimal(value)
    if t is float:
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if t is str or t is list or t is tuple:
        text = to_text(value).strip()
        if len(text) <= 100 and _NUMBER.fullmatch(text):
            return Decimal(text)
    return None


def _operand(value: object) -> Decimal | None:
    if value is None:
        return None
    number = _decimal(value)
    if number is None:
        raise HelperError(f"{to_text(value)[:40]!r} is not a number")
    return number


def _number_result(number: Decimal) -> int | float:
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    return float(number)


def _integer(value: object, what: str) -> int:
    number = _decimal(value)
    if number is None or number != number.to_integral_value():
        raise HelperError(f"{what} must be a whole number, got {to_text(value)[:40]!r}")
    return int(number)


def _size(value: object, what: str) -> int:
    size = _integer(value, what)
    if size < 0:
        raise HelperError(f"{what} cannot be negative")
    if size > MAX_OUTPUT_CHARS:
        raise HelperError(f"{what} is larger than the output limit")
    return size


def _arithmetic(operation: Callable[[Decimal, Decimal], Decimal]) -> Callable[[Args, Hash], object]:
    def helper(args: Args, hash_: Hash) -> object:
        a, b = _operand(args[0]), _operand(args[1])
        if a is None or b is None:
            return None
        try:
            result = operation(a, b)
        except DivisionByZero:
            raise HelperError("division by zero") from None
        except (InvalidOperation, Overflow):
            raise HelperError("the result is not a finite number") from None
        return _number_result(result)

    return helper


def _divide(a: Decimal, b: Decimal) -> Decimal:
    quotient = _DECIMAL.divide(a, b)
    if quotient.adjusted() < 20:
        quotient = quotient.quantize(_EIGHT_PLACES, context=_DECIMAL)
    return quotient


def _modulo(a: Decimal, b: Decimal) -> Decimal:
    if b == 0:
        raise DivisionByZero
    return _DECIMAL.remainder(a, b)


def _rounding(mode: str) -> Callable[[Args, Hash], object]:
    def helper(args: Args, hash_: Hash) -> object:
        number = _operand(args[0])
        if number is None:
            return None
        try:
            return _number_result(number.to_integral_value(rounding=mode, context=_DECIMAL))
        except (InvalidOperation, Overflow):
            raise HelperError("the result is not a finite number") from None

    return helper


# -- conditions ----------------------------------------------------------------------------------------


def _equal(a: object, b: object) -> bool:
    """Strings compare as strings; a number compares numerically with a number or numeric string;
    anything else by value and type (a list never equals a string: use `.[0]`)."""
    ta, tb = type(a), type(b)
    if ta is str and tb is str:
        return a == b
    if (ta is int or ta is float or tb is int or tb is float) and ta is not bool and tb is not bool:
        da, db = _decimal(a), _decimal(b)
        if da is not None and db is not None:
            return da == db
    return ta is tb and a == b


def _compare(a: object, b: object) -> int | None:
    """Numbers (and numeric strings) numerically, other strings by code point; None if incomparable."""
    da, db = _decimal(a), _decimal(b)
    if da is not None and db is not None and type(a) is not bool and type(b) is not bool:
        return (da > db) - (da < db)
    if type(a) is str and type(b) is str:
        return (a > b) - (a < b)
    return None


def _comparison(test: Callable[[int], bool]) -> Callable[[Args, Hash], bool]:
    def helper(args: Args, hash_: Hash) -> bool:
        order = _compare(args[0], args[1])
        return order is not None and test(order)

    return helper


def _if(args: Args, hash_: Hash) -> bool:
    return is_truthy(args[0], include_zero=is_truthy(hash_.get("includeZero")))


def _unless(args: Args, hash_: Hash) -> bool:
    return not _if(args, hash_)


# -- strings -----------------------------------------------------------------------------------------


def _text(args: Args, i: int = 0) -> str:
    return to_text(args[i]) if i < len(args) else ""


def _abbreviate(args: Args, hash_: Hash) -> str:
    text, width = _text(args), _integer(args[1], "the width")
    if width < 4:
        raise HelperError("the width must be at least 4")
    return text if len(text) <= width else text[: width - 3] + "..."


def _capitalize(args: Args, hash_: Hash) -> str:
    fully = is_truthy(hash_.get("fully"))
    out, start = [], True
    for ch in _text(args):
        if ch.isspace():
            out.append(ch)
            start = True
        elif start:
            out.append(ch.title())
            start = False
        else:
            out.append(ch.lower() if fully else ch)
    return "".join(out)


def _capitalize_first(args: Args, hash_: Hash) -> str:
    text = _text(args)
    return text[:1].title() + text[1:]


def _pad(text: str, pad: str, count: int) -> str:
    if count <= 0:
        return ""
    return (pad * (count // len(pad) + 1))[:count]


def _pad_string(hash_: Hash) -> str:
    return to_text(hash_.get("pad")) or " "


def _field_size(args: Args, hash_: Hash) -> int:
    raw = hash_["size"] if "size" in hash_ else (args[1] if len(args) > 1 else None)
    if raw is None:
        raise HelperError("expected a size: a number or size=N")
    return _size(raw, "the size")


def _center(args: Args, hash_: Hash) -> str:
    text, size, pad = _text(args), _field_size(args, hash_), _pad_string(hash_)
    pads = size - len(text)
    if pads <= 0:
        return text
    left = pads // 2
    return _pad(text, pad, left) + text + _pad(text, pad, pads - left)


def _ljust(args: Args, hash_: Hash) -> str:
    text, size = _text(args), _field_size(args, hash_)
    return text + _pad(text, _pad_string(hash_), size - len(text))


def _rjust(args: Args, hash_: Hash) -> str:
    text, size = _text(args), _field_size(args, hash_)
    return _pad(text, _pad_string(hash_), size - len(text)) + text


def _cut(args: Args, hash_: Hash) -> str:
    remove = _text(args, 1) if len(args) > 1 else " "
    return _text(args).replace(remove, "") if remove else _text(args)


def _replace(args: Args, hash_: Hash) -> str:
    text, old, new = _text(args), _text(args, 1), _text(args, 2)
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if len(text) + occurrences * (len(new) - len(old)) > MAX_OUTPUT_CHARS:
        raise HelperError("the result is larger than the output limit")
    return text.replace(old, new)


def _slugify(args: Args, hash_: Hash) -> str:
    out = []
    for ch in _text(args).strip().lower():
        if ch.isalnum() or ch == "_" or ch == "-":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


_TAG = re.compile(r"<[^>]*>")


def _strip_tags(args: Args, hash_: Hash) -> str:
    return _TAG.sub("", _text(args))


def _substring(args: Args, hash_: Hash) -> str:
    text = _text(args)
    start = _integer(args[1], "the start offset")
    end = _integer(args[2], "the end offset") if len(args) > 2 else len(text)
    if start < 0 or end < 0:
        raise HelperError("offsets cannot be negative")
    return text[start:end]


def _lower(args: Args, hash_: Hash) -> str:
    return _text(args).lower()


def _upper(args: Args, hash_: Hash) -> str:
    return _text(args).upper()


def _join(args: Args, hash_: Hash) -> str:
    value, separator = args[0], _text(args, len(args) - 1)
    if not is_truthy(value):
        return ""
    items = value if type(value) is list or type(value) is tuple else [value, *args[1:-1]]
    body = separator.join(to_text(item) for item in items)
    return to_text(hash_.get("prefix")) + body + to_text(hash_.get("suffix"))


def _inflect(args: Args, hash_: Hash) -> str:
    count = _operand(args[0])
    if count is None:
        raise HelperError("the count is missing")
    word = _text(args, 1) if count == 1 else _text(args, 2)
    if is_truthy(hash_.get("includeCount")) and to_text(hash_.get("includeCount")) != "false":
        return f"{to_text(_number_result(count))} {word}"
    return word


def _ordinalize(args: Args, hash_: Hash) -> str:
    number = _decimal(args[0])
    if number is None or number != number.to_integral_value():
        return _text(args)
    n = int(number)
    tens, ones = abs(n) % 100, abs(n) % 10
    suffix = "th" if 11 <= tens <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(ones, "th")
    return f"{n}{suffix}"


def _yesno(args: Args, hash_: Hash) -> str:
    value = args[0]
    if type(value) is list or type(value) is tuple:
        value = value[0] if len(value) == 1 else (value or None)
    if type(value) is str and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if value is None or value == "":
        return to_text(hash_.get("maybe", "maybe"))
    if is_truthy(value):
        return to_text(hash_.get("yes", "yes"))
    return to_text(hash_.get("no", "no"))


def _date_format(args: Args, hash_: Hash) -> str:
    if args[0] is None or args[0] == "" or args[0] == []:
        return ""
    output = hash_.get("outputFormat", hash_.get("format", args[1] if len(args) > 1 else None))
    return dates.format_value(
        to_text(args[0]),
        input_format=_optional_text(hash_.get("inputFormat")),
        output_format=_optional_text(output),
        tz=_optional_text(hash_.get("tz")),
    )


def _now(args: Args, hash_: Hash) -> str:
    output = args[0] if args else hash_.get("format", hash_.get("outputFormat"))
    return dates.format_now(output_format=_optional_text(output), tz=_optional_text(hash_.get("tz")))


def _optional_text(value: object) -> str | None:
    return None if value is None else to_text(value)


# -- encoding ----------------------------------------------------------------------------------------


def _encode64(args: Args, hash_: Hash) -> str:
    return base64.b64encode(_text(args).encode()).decode("ascii")


def _decode64(args: Args, hash_: Hash) -> str:
    try:
        raw = base64.b64decode(_text(args).strip(), validate=True)
    except (binascii.Error, ValueError):
        raise HelperError("the value is not valid Base64") from None
    return raw.decode("utf-8", errors="replace")


def _digest(algorithm: str) -> Callable[[Args, Hash], str]:
    def helper(args: Args, hash_: Hash) -> str:
        return hashlib.new(algorithm, _text(args).encode()).hexdigest()

    return helper


def _uuid(args: Args, hash_: Hash) -> str:
    return str(uuid.uuid4())


# -- lookup ------------------------------------------------------------------------------------------


def _lookup(args: Args, hash_: Hash) -> object:
    container, key = args[0], args[1]
    t = type(container)
    if t is dict:
        return clean(container.get(to_text(key)))
    if t is list or t is tuple or t is str:
        index = _decimal(key)
        if index is not None and index == index.to_integral_value() and 0 <= index < len(container):
            return clean(container[int(index)])
        if to_text(key) == "length":
            return len(container)
    return None


HELPERS: dict[str, HelperSpec] = {
    # built-in
    "each": HelperSpec(None, 1, 1),
    "if": HelperSpec(_if, 1, 1, condition=True),
    "unless": HelperSpec(_unless, 1, 1, condition=True),
    "lookup": HelperSpec(_lookup, 2, 2),
    # conditional
    "and": HelperSpec(lambda a, h: all(is_truthy(v) for v in a), 1, None, condition=True),
    "or": HelperSpec(lambda a, h: any(is_truthy(v) for v in a), 1, None, condition=True),
    "not": HelperSpec(lambda a, h: not is_truthy(a[0]), 1, 1, condition=True),
    "eq": HelperSpec(lambda a, h: _equal(a[0], a[1]), 2, 2, condition=True),
    "neq": HelperSpec(lambda a, h: not _equal(a[0], a[1]), 2, 2, condition=True),
    "gt": HelperSpec(_comparison(lambda o: o > 0), 2, 2, condition=True),
    "gte": HelperSpec(_comparison(lambda o: o >= 0), 2, 2, condition=True),
    "lt": HelperSpec(_comparison(lambda o: o < 0), 2, 2, condition=True),
    "lte": HelperSpec(_comparison(lambda o: o <= 0), 2, 2, condition=True),
    # string
    "abbreviate": HelperSpec(_abbreviate, 2, 2),
    "capitalize": HelperSpec(_capitalize, 1, 1),
    "capitalizeFirst": HelperSpec(_capitalize_first, 1, 1),
    "center": HelperSpec(_center, 1, 2),
    "cut": HelperSpec(_cut, 1, 2),
    "dateFormat": HelperSpec(_date_format, 1, 2),
    "inflect": HelperSpec(_inflect, 3, 3),
    "join": HelperSpec(_join, 2, None),
    "ljust": HelperSpec(_ljust, 1, 2),
    "lower": HelperSpec(_lower, 1, 1),
    "now": HelperSpec(_now, 0, 1),
    "ordinalize": HelperSpec(_ordinalize, 1, 1),
    "replace": HelperSpec(_replace, 3, 3),
    "rjust": HelperSpec(_rjust, 1, 2),
    "slugify": HelperSpec(_slugify, 1, 1),
    "stripTags": HelperSpec(_strip_tags, 1, 1),
    "substring": HelperSpec(_substring, 2, 3),
    "upper": HelperSpec(_upper, 1, 1),
    "yesno": HelperSpec(_yesno, 1, 1),
    # math and encoding
    "add": HelperSpec(_arithmetic(lambda a, b: _DECIMAL.add(a, b)), 2, 2),
    "subtract": HelperSpec(_arithmetic(lambda a, b: _DECIMAL.subtract(a, b)), 2, 2),
    "multiply": HelperSpec(_arithmetic(lambda a, b: _DECIMAL.multiply(a, b)), 2, 2),
    "divide": HelperSpec(_arithmetic(_divide), 2, 2),
    "modulo": HelperSpec(_arithmetic(_modulo), 2, 2),
    "ceiling": HelperSpec(_rounding(ROUND_CEILING), 1, 1),
    "floor": HelperSpec(_rounding(ROUND_FLOOR), 1, 1),
    "round": HelperSpec(_rounding(ROUND_HALF_UP), 1, 1),
    "encode64": HelperSpec(_encode64, 1, 1),
    "decode64": HelperSpec(_decode64, 1, 1),
    "md5": HelperSpec(_digest("md5"), 1, 1),
    "sha256": HelperSpec(_digest("sha256"), 1, 1),
    "sha512": HelperSpec(_digest("sha512"), 1, 1),
    "uuid": HelperSpec(_uuid, 0, 0),
}

BLOCK_ONLY = frozenset({"each"})
UNSUPPORTED = {"with": "the with helper is not supported"}
# Arguments (positions, hash keys) that, given as a bare path resolving to nothing, stand for their own
# text, as in Pinpoint's documented examples `tz=America/Los_Angeles` and `{{inflect 3 apple apples}}`.
LITERAL_FALLBACK: dict[str, tuple[frozenset[int], frozenset[str]]] = {
    "dateFormat": (frozenset({1}), frozenset({"inputFormat", "outputFormat", "format", "tz"})),
    "now": (frozenset({0}), frozenset({"format", "outputFormat", "tz"})),
    "inflect": (frozenset({1, 2}), frozenset()),
}
