"""Source text → tokens: where an offset is (line, column), and the tokens inside one tag.

Mirrors the "mu" rules of the Handlebars.js lexer: strings, numbers, keywords, `@`, path separators,
ids (anything but whitespace and !"#%&'()*+,./;<=>@[\\]^`{|}~) and `[literal]` segments.
"""

import bisect
import re

from .errors import TemplateError
from .nodes import NO_STRIP, Strip

# Inside a mustache, after the opener. Mirrors the Handlebars.js lexer's "mu" rules.
TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<close_raw>\}~?\}\})
  | (?P<close>~?\}\})
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<equals>=)
  | (?P<open_bp>as\s+\|)
  | (?P<pipe>\|)
  | (?P<dstring>"(?:\\"|[^"])*")
  | (?P<sstring>'(?:\\'|[^'])*')
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?=[~}\s)]))
  | (?P<keyword>(?:true|false|null|undefined)(?=[~}\s)]))
  | (?P<data>@)
  | (?P<dotdot>\.\.)
  | (?P<dotid>\.(?=[=~}\s/.)|]))
  | (?P<sep>[/.])
  | (?P<id>[^\s!"\#%-,./;->@\[-\^`{-~]+(?=[=~}\s/.)|]))
  | (?P<bracket>\[(?:\\[\\\]]|[^\]])*\])
    """,
    re.VERBOSE,
)
SEGMENT_KINDS = frozenset({"id", "bracket", "dotdot", "dotid", "number", "keyword"})
END_KINDS = frozenset({"close", "close_raw", "rparen", "open_bp"})
ELSE = re.compile(r"\{\{(~?)\s*else(?=[\s~}])")
CLOSE_AFTER = re.compile(r"\s*(~?)\}\}")
COMMENT_END = re.compile(r"--(~?)\}\}")


class Token:
    __slots__ = ("end", "kind", "start", "text")

    def __init__(self, kind: str, text: str, start: int, end: int) -> None:
        self.kind = kind
        self.text = text
        self.start = start
        self.end = end


class Source:
    """A template's text with its line starts, for positions and errors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def where(self, offset: int) -> tuple[int, int]:
        """(line, column), both 1-based, of `offset`."""
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def error(self, message: str, offset: int) -> TemplateError:
        return TemplateError(message, *self.where(offset))

    def tokens(self, start: int, pos: int, *, raw_close: bool) -> tuple[list[Token], Strip, int]:
        """The tokens of a tag from `pos` to its closing braces; returns them, the closing strip and the
        offset after the tag."""
        src, out = self.text, []
        while True:
            m = TOKEN.match(src, pos)
            if m is None:
                if src.find("}}", pos) < 0:
                    raise self.error("unclosed '{{'", start)
                raise self.error(f"unexpected {src[pos]!r}", pos)
            kind = m.lastgroup
            if kind == "ws":
                pos = m.end()
                continue
            if kind == "close_raw" or kind == "close":
                if kind == "close" and raw_close:
                    raise self.error("expected '}}}'", m.start())
                if kind == "close_raw" and not raw_close:
                    if m.group() != "}}}":
                        raise self.error(f"unexpected {m.group()!r}", m.start())
                    return out, NO_STRIP, m.start() + 2  # `{{x}}}`: the third brace is text
                return out, Strip(False, "~" in m.group()), m.end()
            out.append(Token(kind, m.group(), m.start(), m.end()))
            pos = m.end()
