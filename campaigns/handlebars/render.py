"""Walks a compiled node tree over a context of plain values, within the limits of one render."""

from collections.abc import Callable, Mapping
from itertools import islice

from .errors import HelperError, TemplateError
from .helpers import Args, Hash
from .limits import Limits
from .nodes import CONDITION, EACH, Block, Call, Expr, Literal, Mustache, Partial, PathExpr, Program
from .values import clean, escape_html, to_text


class Template:
    """A compiled template: immutable, safe to share between threads and to render many times."""

    __slots__ = ("_limits", "_program", "source")

    def __init__(self, program: Program, source: str, limits: Limits) -> None:
        object.__setattr__(self, "_program", program)
        object.__setattr__(self, "_limits", limits)
        object.__setattr__(self, "source", source)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Template is immutable")

    def __repr__(self) -> str:
        return f"<Template {self.source[:40]!r}>"

    def render(
        self, context: Mapping | None, *, defaults: Mapping[str, str] | None = None, html_escape: bool = True
    ) -> str:
        """The text for `context` (an endpoint-shaped dict); a missing value takes its DefaultSubstitutions
        entry from `defaults` ("User.UserAttributes.FirstName" → "there"), else "". `html_escape=False`
        renders {{x}} like {{{x}}}, for parts that are not HTML. Raises TemplateError only: for a
        helper's bad arguments, a missing partial, or a limit reached."""
        run = _Run(self._limits, defaults or {}, clean(context) if context is not None else {}, html_escape)
        out: list[str] = []
        run.program(self._program, run.root, None, out, 0)
        return "".join(out)


# The inline partials in scope: (the innermost program's table, the enclosing chain) or None.
_Partials = tuple[dict[str, Program], object] | None


class _Scope:
    """One context level: `../` goes to `parent`. `data` holds @index/@key/@first/@last, `params` the
    block parameters of an `#each ... as |item i|`; `root` marks the top-level context, where missing
    values take their defaults."""

    __slots__ = ("context", "data", "params", "parent", "root")

    def __init__(
        self, context: object, parent: "_Scope | None", data: "_Frame", params: dict | None, *, root: bool = False
    ) -> None:
        self.context = context
        self.parent = parent
        self.data = data
        self.params = params
        self.root = root


class _Frame:
    __slots__ = ("parent", "values")

    def __init__(self, values: dict, parent: "_Frame | None") -> None:
        self.values = values
        self.parent = parent


class _Run:
    """The state of one render: budgets, output size, defaults."""

    __slots__ = ("defaults", "escape", "helper_chars", "limits", "normalised", "root", "size", "steps")

    def __init__(self, limits: Limits, defaults: Mapping[str, str], context: object, escape: bool) -> None:
        self.limits = limits
        self.escape = escape
        self.defaults = defaults
        self.normalised: dict[tuple[str, ...], str] | None = None
        self.steps = 0
        self.size = 0
        self.helper_chars = 0
        self.root = _Scope(context, None, _Frame({"root": context}, None), None, root=True)

    # -- programs ----------------------------------------------------------------------------------

    def program(self, program: Program, scope: _Scope, partials: _Partials, out: list[str], depth: int) -> None:
        if depth > self.limits.depth:
            raise TemplateError(f"blocks and partials nested deeper than {self.limits.depth} while rendering")
        if program.partials is not None:
            partials = (program.partials, partials)
        limits = self.limits
        body = program.body
        # Steps and static text are counted per program, not per node: the same budget, less work.
        self.steps += len(body)
        if self.steps > limits.steps:
            raise TemplateError(f"the template needs more than {limits.steps} rendering steps", *_first_at(body))
        self.size += program.text_size
        append = out.append
        for node in body:
            t = type(node)
            if t is str:
                append(node)
                continue
            if t is Mustache:
                expr = node.expr
                if type(expr) is PathExpr:
                    if expr.plain and not expr.depth:  # the common case, inlined: a path from here
                        value = scope.context
                        for name, index in expr.segments:
                            value = value.get(name) if type(value) is dict else _child(value, name, index)
                            if value is None:
                                break
                        if type(value) is not str:
                            value = self.resolve(expr, scope)
                    else:
                        value = self.resolve(expr, scope)
                else:
                    value = self.evaluate(expr, scope)
                text = value if type(value) is str else to_text(value)
                if node.escape and text and self.escape:
                    text = escape_html(text)
                append(text)
                self.size += len(text)
            elif t is Block:
                self.block(node, scope, partials, out, depth)
            else:
                self.partial(node, scope, partials, out, depth)
            if self.size > limits.output_chars:
                raise TemplateError(
                    f"the output is longer than {limits.output_chars} characters", node.line, node.column
                )
        if self.size > limits.output_chars:
            raise TemplateError(f"the output is longer than {limits.output_chars} characters", *_first_at(body))

    def block(self, node: Block, scope: _Scope, partials: _Partials, out: list[str], depth: int) -> None:
        while True:  # an {{else x}} chain is walked here, not recursed into
            chosen = self.choose(node, scope, partials, out, depth)
            if chosen is None:
                return
            if chosen.chained:
                node = chosen.body[0]
                continue
            self.program(chosen, scope, partials, out, depth + 1)
            return

    def choose(self, node: Block, scope: _Scope, partials: _Partials, out: list[str], depth: int) -> Program | None:
        """Renders the block if it iterates; else returns the program to render (None for nothing)."""
        if node.kind == CONDITION:
            args = [self.evaluate(p, scope) for p in node.params]
            hash_ = {k: self.evaluate(v, scope) for k, v in node.hash}
            ok = self.call_helper(node.name, node.spec.fn, args, hash_, node)
            return node.program if ok else node.inverse
        value = self.evaluate(node.params[0], scope)
        t = type(value)
        if node.kind == EACH:
            if (t is list or t is tuple or t is dict) and value:
                self.each(node, value, scope, partials, out, depth)
                return None
            return node.inverse
        # a section: a plain value used as a block, as Handlebars' blockHelperMissing does (0 and ""
        # render the block with themselves as the context; only false, null and [] take the else)
        if value is True:
            return node.program
        if value is None or value is False or ((t is list or t is tuple) and not value):
            return node.inverse
        if t is list or t is tuple:
            self.each(node, value, scope, partials, out, depth)
            return None
        if node.program is not None:
            self.program(node.program, _Scope(value, scope, scope.data, None), partials, out, depth + 1)
        return None

    def each(
        self, node: Block, value: list | tuple | dict, scope: _Scope, partials: _Partials, out: list[str], depth: int
    ) -> None:
        """Renders the block once per item, at most `limits.each_items` times (Pinpoint's list size)."""
        program = node.program
        if program is None:
            return
        cap = self.limits.each_items
        if self.limits.each_overflow_error and len(value) > cap:
            raise TemplateError(f"#each over {len(value)} items; at most {cap} are rendered", node.line, node.column)
        pairs = islice(value.items(), cap) if type(value) is dict else enumerate(value[:cap])
        last = min(len(value), cap) - 1
        self.steps += last + 1
        names = node.block_params
        # One frame and one scope for the whole loop, updated per item: nothing keeps either past its
        # iteration, and the loop allocates nothing per item.
        values = {"index": 0, "key": None, "first": True, "last": False}
        item_scope = _Scope(None, scope, _Frame(values, scope.data), {} if names else None)
        for index, (key, item) in enumerate(pairs):
            if type(item) not in _PLAIN:
                item = clean(item)
            values["index"], values["key"], values["first"], values["last"] = index, key, index == 0, index == last
            item_scope.context = item
            if names:
                item_scope.params[names[0]] = item
                if len(names) > 1:
                    item_scope.params[names[1]] = key
            self.program(program, item_scope, partials, out, depth + 1)

    def partial(self, node: Partial, scope: _Scope, partials: _Partials, out: list[str], depth: int) -> None:
        name = node.name if node.name_expr is None else to_text(self.evaluate(node.name_expr, scope))
        program, table = None, partials
        while table is not None and program is None:
            program = table[0].get(name)
            table = table[1]
        if program is None:
            raise TemplateError(f"the partial {name!r} is not defined here", node.line, node.column)
        # As in Handlebars.js, a partial starts a new context chain: `../` inside it reaches nothing.
        context = self.evaluate(node.context, scope) if node.context is not None else scope.context
        if node.hash:
            merged = dict(context) if type(context) is dict else {}
            merged.update((k, self.evaluate(v, scope)) for k, v in node.hash)
            context = merged
        scope = _Scope(context, None, scope.data, None, root=scope.root and node.context is None)
        if not node.indent:
            self.program(program, scope, partials, out, depth + 1)
            return
        inner: list[str] = []
        self.program(program, scope, partials, inner, depth + 1)
        lines = "".join(inner).split("\n")
        for i, line in enumerate(lines):
            if not line and i == len(lines) - 1:
                break
            lines[i] = node.indent + line
            self.size += len(node.indent)
        out.append("\n".join(lines))

    # -- values ------------------------------------------------------------------------------------

    def evaluate(self, expr: Expr, scope: _Scope) -> object:
        t = type(expr)
        if t is PathExpr:
            return self.resolve(expr, scope)
        if t is Literal:
            return expr.value
        return self.call(expr, scope)

    def call(self, node: Call, scope: _Scope) -> object:
        self.steps += 1
        args = [self.evaluate(p, scope) for p in node.params]
        hash_ = {k: self.evaluate(v, scope) for k, v in node.hash} if node.hash else {}
        if node.fallbacks is not None:
            texts, hash_texts = node.fallbacks
            args = [texts[i] if v is None and texts[i] is not None else v for i, v in enumerate(args)]
            for k, text in hash_texts.items():
                if hash_[k] is None and text is not None:
                    hash_[k] = text
        result = self.call_helper(node.name, node.spec.fn, args, hash_, node)
        if node.spec.condition:
            return hash_.get("yes", True) if result else hash_.get("no", False)
        return result

    def call_helper(
        self, name: str, fn: Callable[[Args, Hash], object], args: Args, hash_: Hash, node: Call | Block
    ) -> object:
        try:
            result = fn(args, hash_)
        except HelperError as exc:
            raise TemplateError(f"{name}: {exc}", node.line, node.column) from None
        except TemplateError:
            raise
        except Exception as exc:  # a helper fed something it did not expect must not leak a traceback
            raise TemplateError(f"{name} failed: {type(exc).__name__}", node.line, node.column) from None
        if type(result) is str:
            self.helper_chars += len(result)
            if self.helper_chars > self.limits.helper_chars:
                raise TemplateError(
                    f"helpers produced more than {self.limits.helper_chars} characters", node.line, node.column
                )
        return result

    def resolve(self, path: PathExpr, scope: _Scope) -> object:
        """The value at `path`, or its default at the root, or None. Only dict keys, list/str indexes and
        `length` are followed — never attributes."""
        if path.plain:
            s = scope
            for _ in range(path.depth):
                s = s.parent
                if s is None:
                    return None
            value = s.context
            segments = path.segments
            at_root = s.root
        else:
            value, at_root = self.resolve_first(path, scope)
            segments = path.segments[1:]
        for name, index in segments:
            value = value.get(name) if type(value) is dict else _child(value, name, index)
            if value is None:
                break
        if type(value) not in _PLAIN:
            value = clean(value)
        if (value is None or value == []) and at_root and path.defaults:
            return self.missing(path)
        return value

    def resolve_first(self, path: PathExpr, scope: _Scope) -> tuple[object, bool]:
        """The value of a data variable (@index, @root ...) or block parameter; and whether it is the root."""
        first = path.segments[0][0]
        if path.data:
            frame = scope.data
            for _ in range(path.depth):
                frame = frame.parent if frame is not None else None
            while frame is not None:
                if first in frame.values:
                    return frame.values[first], first == "root"
                frame = frame.parent
            return None, False
        s = scope
        while s is not None:
            if s.params is not None and first in s.params:
                return s.params[first], False
            s = s.parent
        return None, False

    def missing(self, path: PathExpr) -> object:
        """The DefaultSubstitutions value for a missing root path, or None."""
        if not self.defaults:
            return None
        if self.normalised is None:
            self.normalised = {_default_key(k): to_text(v) for k, v in self.defaults.items() if type(k) is str}
        for key in path.defaults:
            if key in self.normalised:
                return self.normalised[key]
        return None


_PLAIN = frozenset({dict, list, tuple, str, int, float, bool, type(None)})


def _child(value: object, name: str, index: int | None) -> object:
    """`value[name]` for anything but a plain dict: list and string indexes and `length`; subclasses of
    the plain containers through a plain copy; None for everything else."""
    t = type(value)
    if t is list or t is tuple or t is str:
        if index is not None:
            return value[index] if index < len(value) else None
        return len(value) if name == "length" else None
    if t in _PLAIN:
        return None
    value = clean(value)
    if type(value) is dict:
        return value.get(name)
    return None if value is None else _child(value, name, index)


def _default_key(key: str) -> tuple[str, ...]:
    """ "User.UserAttributes.[Last Name].[0]" → ("User", "UserAttributes", "Last Name", "0")."""
    parts, current, in_bracket = [], [], False
    for ch in key.strip():
        if in_bracket:
            if ch == "]":
                in_bracket = False
            else:
                current.append(ch)
        elif ch == "[":
            in_bracket = True
        elif ch == "." or ch == "/":
            if current:
                parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    if parts and parts[0] == "this":
        parts = parts[1:]
    return tuple(parts)


def _first_at(body: list) -> tuple[int | None, int | None]:
    """The position of the first tag in a program body, for errors about the whole body."""
    for node in body:
        if type(node) is not str:
            return node.line, node.column
    return None, None
