"""The node tree: what the parser builds and the renderer walks. Plain data, no behaviour.

After compilation a program body holds only `str` (literal text), `Mustache`, `Block` and `Partial`;
comments and inline-partial declarations are consumed by the parser.
"""

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .helpers import HelperSpec


class Strip(NamedTuple):
    """Whitespace control of one tag: `{{~` strips to the left (open), `~}}` to the right (close)."""

    open: bool = False
    close: bool = False


NO_STRIP = Strip()


class Content:
    """Literal text while the parser applies whitespace control; becomes a plain `str` afterwards."""

    __slots__ = ("left_stripped", "original", "right_stripped", "value")

    def __init__(self, text: str) -> None:
        self.original = text
        self.value = text
        self.left_stripped = False
        self.right_stripped = False


class Literal:
    """A string, number, boolean or null argument."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class PathExpr:
    """`a.b.[c].0`, `this`, `../x`, `@index`, `@root.x`, a block parameter.

    `segments` are (name, index) pairs: index is the int a list lookup uses, or None.
    `defaults` are the DefaultSubstitutions keys tried when the value is missing at the root.
    """

    __slots__ = ("block_param", "data", "defaults", "depth", "original", "plain", "segments", "this_prefixed")

    def __init__(
        self,
        segments: tuple[tuple[str, int | None], ...],
        *,
        original: str,
        depth: int = 0,
        data: bool = False,
        block_param: bool = False,
        this_prefixed: bool = False,
        defaults: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        self.segments = segments
        self.original = original
        self.depth = depth
        self.data = data
        self.block_param = block_param
        self.plain = not data and not block_param
        self.this_prefixed = this_prefixed
        self.defaults = defaults


class Call:
    """A helper call, as a mustache or a sub-expression. `fallbacks` hold the source text of bare paths
    for helpers that read an unresolved path as its own text (`tz=America/Los_Angeles`)."""

    __slots__ = ("column", "fallbacks", "hash", "line", "name", "params", "spec")

    def __init__(
        self,
        name: str,
        spec: "HelperSpec",
        params: tuple["Expr", ...],
        hash_: tuple[tuple[str, "Expr"], ...],
        fallbacks: tuple[tuple[str | None, ...], dict[str, str | None]] | None,
        line: int,
        column: int,
    ) -> None:
        self.name = name
        self.spec = spec
        self.params = params
        self.hash = hash_
        self.fallbacks = fallbacks
        self.line = line
        self.column = column


class Program:
    """A sequence of nodes, with the inline partials declared directly in it."""

    __slots__ = ("body", "chained", "partials", "text_size")

    def __init__(self, body: list | None = None, *, chained: bool = False) -> None:
        self.body = body if body is not None else []
        self.chained = chained
        self.partials: dict[str, Program] | None = None
        self.text_size = 0  # characters of literal text in body, set by the parser


class Mustache:
    """`{{expr}}` (escaped) or `{{{expr}}}` / `{{& expr}}` (raw)."""

    __slots__ = ("column", "escape", "expr", "line", "strip")

    def __init__(self, expr: "Expr", *, escape: bool, strip: Strip, line: int, column: int) -> None:
        self.expr = expr
        self.escape = escape
        self.strip = strip
        self.line = line
        self.column = column


EACH = "each"
CONDITION = "condition"
SECTION = "section"
INLINE = "inline"


class Block:
    """`{{#name ...}}program{{else}}inverse{{/name}}`; an `{{else if ...}}` chain is a chained inverse
    program holding one Block. `kind` is EACH, CONDITION (if, unless, eq, and ...), SECTION (a plain
    path used as a block, Mustache-style) or INLINE (an inline partial declaration, parser only)."""

    __slots__ = (
        "block_params",
        "close_strip",
        "column",
        "hash",
        "inverse",
        "inverse_strip",
        "kind",
        "line",
        "name",
        "open_strip",
        "params",
        "program",
        "spec",
    )

    def __init__(
        self,
        kind: str,
        name: str,
        *,
        spec: "HelperSpec | None",
        params: tuple["Expr", ...],
        hash_: tuple[tuple[str, "Expr"], ...],
        line: int,
        column: int,
    ) -> None:
        self.kind = kind
        self.name = name
        self.spec = spec
        self.params = params
        self.hash = hash_
        self.line = line
        self.column = column
        self.block_params: tuple[str, ...] = ()
        self.program: Program | None = None
        self.inverse: Program | None = None
        self.open_strip = NO_STRIP
        self.inverse_strip = NO_STRIP
        self.close_strip = NO_STRIP


class Partial:
    """`{{> name}}`, `{{> name context key=value}}` or `{{> (expr)}}` — inline partials only."""

    __slots__ = ("column", "context", "hash", "indent", "line", "name", "name_expr", "strip")

    def __init__(
        self,
        name: str | None,
        name_expr: "Expr | None",
        context: "Expr | None",
        hash_: tuple[tuple[str, "Expr"], ...],
        *,
        strip: Strip,
        line: int,
        column: int,
    ) -> None:
        self.name = name
        self.name_expr = name_expr
        self.context = context
        self.hash = hash_
        self.strip = strip
        self.line = line
        self.column = column
        self.indent = ""


class Comment:
    """`{{! ... }}` or `{{!-- ... --}}`; only takes part in whitespace control."""

    __slots__ = ("strip",)

    def __init__(self, strip: Strip) -> None:
        self.strip = strip


Expr = Literal | PathExpr | Call
