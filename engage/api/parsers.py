import json
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

# A JSON \u0000 escape: the backslash before it is not itself escaped (an even run before it).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class PinpointJSONParser(BaseParser):
    """JSON bodies whatever Content-Type the client sent (SDKs differ); an empty body is {}."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw.strip():
            return {}
        if _NUL_ESCAPE.search(raw):
            # PostgreSQL stores no NUL in text or jsonb: refused here, not as a 500 at the write.
            raise ParseError("The request body contains a NUL character (\\u0000), which no Pinpoint string holds.")
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a valid JSON number")
