"""The one exception the engine lets out, and the one helpers raise inside it."""


class TemplateError(Exception):
    """A template that cannot be compiled or rendered; `line`/`column` are 1-based, None when unknown."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message, line, column)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.message} (line {self.line}, column {self.column})"


class HelperError(Exception):
    """Raised by a helper for bad arguments; the renderer re-raises it as a TemplateError with a position."""
