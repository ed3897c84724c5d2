"""Handlebars source → node tree: tags, blocks, paths, helper calls and partials.

Nothing here evaluates, imports or compiles code: `lexer` cuts each tag into tokens, this module
folds them into the classes of `nodes`, and `whitespace` applies Handlebars.js whitespace control.
Helper names are checked against the helper table here, so an unknown helper or a wrong argument
count fails at compile time with its line and column.
"""

import re
from collections.abc import Iterator

from .errors import TemplateError
from .helpers import BLOCK_ONLY, HELPERS, LITERAL_FALLBACK, UNSUPPORTED, HelperSpec
from .lexer import CLOSE_AFTER, COMMENT_END, ELSE, END_KINDS, SEGMENT_KINDS, Source, Token
from .limits import Limits
from .nodes import (
    CONDITION,
    EACH,
    INLINE,
    NO_STRIP,
    SECTION,
    Block,
    Call,
    Comment,
    Content,
    Expr,
    Literal,
    Mustache,
    Partial,
    PathExpr,
    Program,
    Strip,
)
from .whitespace import finalise, strip_program

_BRACKET_ESCAPE = re.compile(r"\\([\\\]])")


class _LiteralName:
    """A literal as the parser first sees it: a value, or (in name position) a path of its own text."""

    __slots__ = ("original", "value")

    def __init__(self, value: object, original: str) -> None:
        self.value = value
        self.original = original


Parsed = _LiteralName | PathExpr | Call


class _Open:
    """A block whose closing tag has not been seen yet."""

    __slots__ = ("block", "body", "else_body", "else_strip", "inverted", "name", "sections")

    def __init__(self, block: Block, name: str, *, inverted: bool) -> None:
        self.block = block
        self.name = name
        self.inverted = inverted
        self.body: list = []
        self.sections: list[tuple[Block, list]] = []
        self.else_body: list | None = None
        self.else_strip = NO_STRIP


def parse(source: str, limits: Limits) -> tuple[Program, int]:
    """The program for `source` and its number of tags; raises TemplateError with the line and column of
    the first problem."""
    parser = _Parser(source, limits)
    return parser.parse(), parser.tags


class _Parser:
    def __init__(self, source: str, limits: Limits) -> None:
        self.source = Source(source)
        self.limits = limits
        self.stack: list[_Open] = []
        self.root = Program()
        self.partial_refs: list[Partial] = []
        self.declared: set[str] = set()
        self.paths: dict[str, PathExpr] = {}  # one node per distinct path text: nodes are never changed
        self.tags = 0

    # -- the template level ---------------------------------------------------------------------

    @property
    def body(self) -> list:
        if not self.stack:
            return self.root.body
        top = self.stack[-1]
        if top.else_body is not None:
            return top.else_body
        if top.sections:
            return top.sections[-1][1]
        return top.body

    def parse(self) -> Program:
        src, n, pos = self.source.text, len(self.source.text), 0
        while pos < n:
            j = src.find("{{", pos)
            if j < 0:
                self.body.append(Content(src[pos:]))
                break
            if j - pos >= 2 and src[j - 2 : j] == "\\\\":
                # \\{{ is one literal backslash, then a tag
                self.add_text(src[pos : j - 1])
            elif j - pos >= 1 and src[j - 1] == "\\":
                # \{{ is literal text from the braces up to the next {{, \{{ or \\{{
                self.add_text(src[pos : j - 1])
                k = src.find("{{", j + 2)
                end = n if k < 0 else k
                for _ in range(2):
                    if k >= 0 and end - 1 >= j + 2 and src[end - 1] == "\\":
                        end -= 1
                self.add_text(src[j:end])
                pos = end
                continue
            else:
                self.add_text(src[pos:j])
            pos = self.tag(j)
        if self.stack:
            top = self.stack[-1]
            raise TemplateError(f"unclosed {{{{#{top.name}}}}}", top.block.line, top.block.column)
        for ref in self.partial_refs:
            if ref.name is not None and ref.name not in self.declared:
                raise TemplateError(
                    f"the partial {ref.name!r} is not defined (only inline partials are supported)",
                    ref.line,
                    ref.column,
                )
        strip_program(self.root, is_root=True)
        finalise(self.root)
        return self.root

    def add_text(self, text: str) -> None:
        if text:
            self.body.append(Content(text))

    def tag(self, start: int) -> int:
        """Parses the tag opening at `start`; returns the offset after it."""
        self.tags += 1
        src = self.source.text
        if src.startswith("{{{{", start):
            raise self.source.error("raw blocks ({{{{raw}}}}) are not supported", start)
        i = start + 2
        left = src.startswith("~", i)
        if left:
            i += 1
        if src.startswith("!", i):
            return self.comment(start, i, left)
        c = src[i : i + 1]
        m = ELSE.match(src, start) if c == "e" or c.isspace() else None
        if m is not None:
            after = CLOSE_AFTER.match(src, m.end())
            if after is not None:
                self.else_tag(start, Strip(left, bool(after.group(1))))
                return after.end()
            return self.block_open(start, m.end(), left, chained=True)
        if c == "^":
            after = CLOSE_AFTER.match(src, i + 1)
            if after is not None:
                self.else_tag(start, Strip(left, bool(after.group(1))))
                return after.end()
            return self.block_open(start, i + 1, left, inverted=True)
        if c == "#":
            if src.startswith("#>", i):
                raise self.source.error("partial blocks ({{#> partial}}) are not supported", start)
            if src.startswith("#*", i):
                return self.inline_open(start, i + 2, left)
            return self.block_open(start, i + 1, left)
        if c == "/":
            return self.block_close(start, i + 1, left)
        if c == ">":
            return self.partial(start, i + 1, left)
        if c == "*":
            raise self.source.error("decorators are not supported (only {{#* inline}})", start)
        if c == "{":
            return self.mustache(start, i + 1, left, escape=False, raw_close=True)
        if c == "&":
            return self.mustache(start, i + 1, left, escape=False, raw_close=False)
        return self.mustache(start, i, left, escape=True, raw_close=False)

    def comment(self, start: int, i: int, left: bool) -> int:
        if self.source.text.startswith("!--", i):
            m = COMMENT_END.search(self.source.text, i + 3)
            if m is None:
                raise self.source.error("unclosed comment", start)
            self.body.append(Comment(Strip(left, bool(m.group(1)))))
            return m.end()
        end = self.source.text.find("}}", i + 1)
        if end < 0:
            raise self.source.error("unclosed comment", start)
        self.body.append(Comment(Strip(left, self.source.text[end - 1] == "~" and end - 1 > i)))
        return end + 2

    # -- expressions -------------------------------------------------------------------------------

    def expression(self, toks: list[Token], i: int, depth: int, where: str) -> tuple[Parsed, str, int]:
        """Parses `name param* hash?` from toks[i]; returns (node, name, next index)."""
        if i >= len(toks):
            at = toks[i - 1].end if toks else 0
            raise self.source.error("expected an expression", at)
        name_tok = toks[i]
        name_expr, i = self.value(toks, i, depth, name_position=True)
        params: list = []
        hash_: list[tuple[str, object]] = []
        while i < len(toks) and toks[i].kind not in END_KINDS:
            if toks[i].kind == "id" and i + 1 < len(toks) and toks[i + 1].kind == "equals":
                key = toks[i].text
                if i + 2 >= len(toks) or toks[i + 2].kind in END_KINDS:
                    raise self.source.error(f"expected a value after '{key}='", toks[i + 1].end)
                value, i = self.value(toks, i + 2, depth, name_position=False)
                hash_.append((key, value))
                continue
            if hash_:
                raise self.source.error(f"unexpected {toks[i].text!r} after hash arguments", toks[i].start)
            value, i = self.value(toks, i, depth, name_position=False)
            params.append(value)
        node, name = self.classify(name_expr, name_tok, params, hash_, where)
        return node, name, i

    def value(self, toks: list[Token], i: int, depth: int, *, name_position: bool) -> tuple[Parsed, int]:
        """A literal, a path or a sub-expression starting at toks[i]; returns (node, next index)."""
        tok = toks[i]
        kind = tok.kind
        if kind == "lparen":
            if depth + 1 > self.limits.depth:
                raise self.source.error(f"sub-expressions nested deeper than {self.limits.depth}", tok.start)
            node, _, j = self.expression(toks, i + 1, depth + 1, "subexpression")
            if j >= len(toks) or toks[j].kind != "rparen":
                raise self.source.error("expected ')'", toks[j].start if j < len(toks) else toks[-1].end)
            return node, j + 1
        if kind == "dstring" or kind == "sstring":
            q = tok.text[0]
            return _LiteralName(tok.text[1:-1].replace("\\" + q, q), tok.text[1:-1]), i + 1
        if kind == "number":
            text = tok.text
            if "." in text or len(text) > 15:
                return _LiteralName(float(text), text), i + 1
            return _LiteralName(int(text), text), i + 1
        if kind == "keyword" and not (i + 1 < len(toks) and toks[i + 1].kind == "sep"):
            return _LiteralName({"true": True, "false": False}.get(tok.text), tok.text), i + 1
        if kind == "data" or kind in SEGMENT_KINDS:
            return self.path(toks, i)
        raise self.source.error(f"unexpected {tok.text!r}", tok.start)

    def path(self, toks: list[Token], i: int) -> tuple[PathExpr, int]:
        start_tok = toks[i]
        data = start_tok.kind == "data"
        if data:
            i += 1
            if i >= len(toks) or toks[i].kind not in SEGMENT_KINDS or toks[i].start != start_tok.end:
                raise self.source.error("expected a name after '@'", start_tok.end)
        segment_toks = [toks[i]]
        i += 1
        while (
            i + 1 < len(toks)
            and toks[i].kind == "sep"
            and toks[i].start == segment_toks[-1].end
            and toks[i + 1].kind in SEGMENT_KINDS
            and toks[i + 1].start == toks[i].end
        ):
            segment_toks.append(toks[i + 1])
            i += 2
        if i < len(toks) and toks[i].kind == "sep" and toks[i].start == segment_toks[-1].end:
            raise self.source.error("expected a name after the separator", toks[i].end)
        original = self.source.text[start_tok.start : segment_toks[-1].end]
        shareable = not any(self.bps())  # no block parameter in scope can change what the path means
        if shareable and original in self.paths:
            return self.paths[original], i
        depth, parts, this_prefixed = 0, [], False
        for tok in segment_toks:
            if tok.kind == "bracket":
                parts.append(_BRACKET_ESCAPE.sub(r"\1", tok.text[1:-1]))
                continue
            if tok.text in ("..", ".", "this"):
                if parts:
                    raise self.source.error(f"invalid path: {original}", start_tok.start)
                if tok.text == "..":
                    depth += 1
                else:
                    this_prefixed = True
                continue
            parts.append(tok.text)
        block_param = (
            not data and not depth and not this_prefixed and bool(parts) and any(parts[0] in bp for bp in self.bps())
        )
        defaults: tuple[tuple[str, ...], ...] = ()
        if not block_param and (not data or (parts and parts[0] == "root")):
            defaults = _default_keys(tuple(parts[1:] if data else parts))
        node = PathExpr(
            tuple((p, int(p) if p.isascii() and p.isdigit() and len(p) < 10 else None) for p in parts),
            original=original,
            depth=depth,
            data=data,
            block_param=block_param,
            this_prefixed=this_prefixed,
            defaults=defaults,
        )
        if shareable:
            self.paths[original] = node
        return node, i

    def bps(self) -> Iterator[tuple[str, ...]]:
        for open_ in self.stack:
            yield open_.sections[-1][0].block_params if open_.sections else open_.block.block_params

    def classify(self, name_expr: Parsed, name_tok: Token, params: list, hash_: list, where: str) -> tuple[Parsed, str]:
        """Decides what `name params hash` is: a helper Call, or a value (path/literal) to look up."""
        line, column = self.source.where(name_tok.start)
        name = _simple_name(name_expr)
        if name in UNSUPPORTED:
            raise TemplateError(UNSUPPORTED[name], line, column)
        if name in BLOCK_ONLY and where != "block":
            raise TemplateError(f"{name} must be used as a block: {{{{#{name} ...}}}}", line, column)
        if name is not None and name in HELPERS:
            spec = HELPERS[name]
            self.check_arity(name, spec, params, line, column)
            return self.call(name, spec, params, hash_, line, column), name
        label = name if name is not None else _original(name_expr)
        if params or hash_:
            raise TemplateError(f"unknown helper {label!r}", line, column)
        return _as_lookup(name_expr), label

    def check_arity(self, name: str, spec: HelperSpec, params: list, line: int, column: int) -> None:
        n = len(params)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            if spec.max_args == spec.min_args:
                expected = f"{spec.min_args}"
            elif spec.max_args is None:
                expected = f"at least {spec.min_args}"
            else:
                expected = f"{spec.min_args} to {spec.max_args}"
            plural = "" if expected == "1" else "s"
            raise TemplateError(f"{name} expects {expected} argument{plural}, got {n}", line, column)

    def call(self, name: str, spec: HelperSpec, params: list, hash_: list, line: int, column: int) -> Call:
        values = tuple(_as_value(p) for p in params)
        pairs = tuple((k, _as_value(v)) for k, v in hash_)
        fallbacks = None
        if name in LITERAL_FALLBACK:
            positions, keys = LITERAL_FALLBACK[name]
            fallbacks = (
                tuple(_fallback_text(p) if i in positions else None for i, p in enumerate(params)),
                {k: _fallback_text(v) if k in keys else None for k, v in hash_},
            )
        return Call(name, spec, values, pairs, fallbacks, line, column)

    # -- tags ---------------------------------------------------------------------------------------

    def mustache(self, start: int, pos: int, left: bool, *, escape: bool, raw_close: bool) -> int:
        toks, close, end = self.source.tokens(start, pos, raw_close=raw_close)
        node, _, i = self.expression(toks, 0, 0, "mustache")
        if i < len(toks):
            raise self.source.error(f"unexpected {toks[i].text!r}", toks[i].start)
        line, column = self.source.where(start)
        self.body.append(Mustache(node, escape=escape, strip=Strip(left, close.close), line=line, column=column))
        return end

    def block_header(self, start: int, pos: int, left: bool) -> tuple[Block, str, int]:
        """Parses `{{#name params hash as |a b|}}`; returns (Block, name, strip, end offset)."""
        toks, close, end = self.source.tokens(start, pos, raw_close=False)
        if len(self.stack) + 1 > self.limits.depth:
            raise self.source.error(f"blocks nested deeper than {self.limits.depth}", start)
        node, name, i = self.expression(toks, 0, 0, "block")
        block_params: tuple[str, ...] = ()
        if i < len(toks) and toks[i].kind == "open_bp":
            names = []
            i += 1
            while i < len(toks) and toks[i].kind == "id":
                names.append(toks[i].text)
                i += 1
            if i >= len(toks) or toks[i].kind != "pipe" or not names:
                raise self.source.error("expected block parameters: as |name index|", toks[i - 1].end)
            block_params = tuple(names)
            i += 1
        if i < len(toks):
            raise self.source.error(f"unexpected {toks[i].text!r}", toks[i].start)
        line, column = self.source.where(toks[0].start if toks else start)
        if type(node) is Call:
            if name in BLOCK_ONLY:
                kind = EACH
            elif node.spec.condition:
                kind = CONDITION
            else:
                raise TemplateError(f"{name} cannot be used as a block", line, column)
            block = Block(kind, name, spec=node.spec, params=node.params, hash_=node.hash, line=line, column=column)
        else:
            value = node
            block = Block(SECTION, name, spec=None, params=(value,), hash_=(), line=line, column=column)
        if block_params:
            if block.kind != EACH:
                raise TemplateError("block parameters are only supported on #each", line, column)
            if len(block_params) > 2:
                raise TemplateError("#each takes at most two block parameters", line, column)
        block.block_params = block_params
        block.open_strip = Strip(left, close.close)
        return block, _original(node) if type(node) is not Call else name, end

    def block_open(self, start: int, pos: int, left: bool, *, inverted: bool = False, chained: bool = False) -> int:
        block, name, end = self.block_header(start, pos, left)
        if chained:
            top = self.open_for_else(start)
            if top.inverted:
                raise self.source.error("{{else ...}} chains are not allowed in an inverted block", start)
            top.sections.append((block, []))
            return end
        self.stack.append(_Open(block, name, inverted=inverted))
        return end

    def inline_open(self, start: int, pos: int, left: bool) -> int:
        toks, close, end = self.source.tokens(start, pos, raw_close=False)
        if not toks or toks[0].text != "inline":
            raise self.source.error("decorators are not supported (only {{#* inline}})", start)
        if len(self.stack) + 1 > self.limits.depth:
            raise self.source.error(f"blocks nested deeper than {self.limits.depth}", start)
        if len(toks) != 2 or toks[1].kind not in ("dstring", "sstring", "id"):
            raise self.source.error('expected {{#* inline "name"}}', start)
        name = toks[1].text[1:-1] if toks[1].kind != "id" else toks[1].text
        line, column = self.source.where(start)
        block = Block(INLINE, name, spec=None, params=(), hash_=(), line=line, column=column)
        block.open_strip = Strip(left, close.close)
        self.declared.add(name)
        self.stack.append(_Open(block, "inline", inverted=False))
        return end

    def open_for_else(self, start: int) -> _Open:
        if not self.stack:
            raise self.source.error("{{else}} outside a block", start)
        top = self.stack[-1]
        if top.block.kind == INLINE:
            raise self.source.error("{{else}} is not allowed in an inline partial", start)
        if top.else_body is not None:
            raise self.source.error("a block can have only one {{else}}", start)
        return top

    def else_tag(self, start: int, strip: Strip) -> None:
        top = self.open_for_else(start)
        top.else_body = []
        top.else_strip = strip

    def block_close(self, start: int, pos: int, left: bool) -> int:
        toks, close, end = self.source.tokens(start, pos, raw_close=False)
        if not toks:
            raise self.source.error("expected a block name after '{{/'", start)
        node, i = self.value(toks, 0, 0, name_position=True)
        if i < len(toks):
            raise self.source.error(f"unexpected {toks[i].text!r}", toks[i].start)
        name = _original(node)
        if not self.stack:
            raise self.source.error(f"{{{{/{name}}}}} does not close any block", start)
        top = self.stack.pop()
        if name != top.name:
            raise self.source.error(
                f"{{{{/{name}}}}} does not match {{{{#{top.name}}}}} (line {top.block.line})", start
            )
        close_strip = Strip(left, close.close)
        block = top.block
        block.close_strip = close_strip
        inverse = Program(top.else_body) if top.else_body is not None else None
        for k in range(len(top.sections) - 1, -1, -1):
            section, body = top.sections[k]
            section.program = Program(body)
            section.inverse = inverse
            section.inverse_strip = top.sections[k + 1][0].open_strip if k + 1 < len(top.sections) else top.else_strip
            # As Handlebars.js's grammar leaves it: the first link closes with the real close tag's
            # flags, later links with their own opening tag's.
            section.close_strip = close_strip if k == 0 else section.open_strip
            inverse = Program([section], chained=True)
        block.inverse_strip = top.sections[0][0].open_strip if top.sections else top.else_strip
        if top.inverted:
            block.program, block.inverse = inverse, Program(top.body)
        else:
            block.program, block.inverse = Program(top.body), inverse
        self.body.append(block)
        return end

    def partial(self, start: int, pos: int, left: bool) -> int:
        toks, close, end = self.source.tokens(start, pos, raw_close=False)
        if not toks:
            raise self.source.error("expected a partial name after '{{>'", start)
        line, column = self.source.where(start)
        name, name_expr = None, None
        if toks[0].kind == "lparen":
            name_expr, i = self.value(toks, 0, 0, name_position=False)
            name_expr = _as_value(name_expr)
        else:
            node, i = self.value(toks, 0, 0, name_position=True)
            name = _original(node)
        params: list = []
        hash_: list[tuple[str, object]] = []
        while i < len(toks):
            if toks[i].kind == "id" and i + 1 < len(toks) and toks[i + 1].kind == "equals":
                if i + 2 >= len(toks):
                    raise self.source.error(f"expected a value after '{toks[i].text}='", toks[i + 1].end)
                value, j = self.value(toks, i + 2, 0, name_position=False)
                hash_.append((toks[i].text, _as_value(value)))
                i = j
                continue
            if hash_ or params:
                raise self.source.error(f"unexpected {toks[i].text!r} in a partial", toks[i].start)
            value, i = self.value(toks, i, 0, name_position=False)
            params.append(_as_value(value))
        node = Partial(
            name,
            name_expr,
            params[0] if params else None,
            tuple(hash_),
            strip=Strip(left, close.close),
            line=line,
            column=column,
        )
        self.partial_refs.append(node)
        self.body.append(node)
        return end


# -- names and values ----------------------------------------------------------------------------


def _simple_name(node: Parsed) -> str | None:
    """The helper name `node` can stand for: a one-segment path (no `this`, `../`, `@`) or a literal."""
    if type(node) is _LiteralName:
        return node.original
    simple = type(node) is PathExpr and not (node.data or node.depth or node.block_param or node.this_prefixed)
    return node.segments[0][0] if simple and len(node.segments) == 1 else None


def _original(node: Parsed) -> str:
    if type(node) is _LiteralName or type(node) is PathExpr:
        return node.original
    return node.name if type(node) is Call else ""


def _as_value(node: Parsed) -> Expr:
    """A parsed argument as the renderer evaluates it: literals lose their source text."""
    if type(node) is _LiteralName:
        return Literal(node.value)
    return node


def _as_lookup(node: Parsed) -> Expr:
    """A name-position node with no arguments: a literal there looks up its own text, as in Handlebars.js
    (`{{"Last Name"}}` reads the key "Last Name")."""
    if type(node) is _LiteralName:
        text = node.original
        return PathExpr(((text, None),), original=text, defaults=_default_keys((text,)))
    return node


def _fallback_text(node: Parsed) -> str | None:
    if type(node) is PathExpr and not node.data and not node.block_param:
        return node.original
    return None


def _default_keys(parts: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """DefaultSubstitutions keys for a path: itself, then without trailing list indexes
    (`User.UserAttributes.FirstName.[0]` also tries `User.UserAttributes.FirstName`)."""
    if not parts:
        return ()
    keys = [parts]
    while len(parts) > 1 and parts[-1].isascii() and parts[-1].isdigit():
        parts = parts[:-1]
        keys.append(parts)
    return tuple(keys)
