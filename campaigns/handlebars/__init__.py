"""Placeholder docstring."""

from functools import lru_cache

from .errors import TemplateError
from .limits import DEFAULT_LIMITS, Limits
from .parser import parse
from .render import Template

__all__ = ["DEFAULT_LIMITS", "Limits", "Template", "TemplateError", "compile_template"]


def compile_template(source: str, *, limits: Limits = DEFAULT_LIMITS) -> Template:
    """The compiled Template for `source`, from a cache of recent sources; raises TemplateError with the
    line and column of the first problem, or when the source is longer than `limits.source_chars`."""
    if not isinstance(source, str):
        raise TemplateError("a template source must be a string")
    if len(source) > limits.source_chars:
        raise TemplateError(f"the template is longer than {limits.source_chars} characters")
    return _compile(str.__str__(source), limits)


@lru_cache(maxsize=256)
def _compile(source: str, limits: Limits) -> Template:
    return Template(parse(source, limits), source, limits)
