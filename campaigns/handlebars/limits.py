"""Caps that keep one tenant's template from costing more than one message's worth of work."""

from dataclasses import dataclass

MAX_SOURCE_CHARS = 600_000  # Pinpoint's cap on an email template part
MAX_EACH_ITEMS = 15  # Pinpoint: "the maximum list size is 15 items"
MAX_DEPTH = 50  # nested blocks and sub-expressions at compile time; blocks + partials at render time
MAX_OUTPUT_CHARS = 1_000_000  # rendered text, in characters
MAX_STEPS = 1_000_000  # nodes, iterations and helper calls visited in one render
MAX_HELPER_CHARS = 10_000_000  # characters produced by helpers in one render, output or not


@dataclass(frozen=True, slots=True)
class Limits:
    """One set of caps; compile_template(source, limits=...) takes another for tests or special parts."""

    source_chars: int = MAX_SOURCE_CHARS
    each_items: int = MAX_EACH_ITEMS
    depth: int = MAX_DEPTH
    output_chars: int = MAX_OUTPUT_CHARS
    steps: int = MAX_STEPS
    helper_chars: int = MAX_HELPER_CHARS
    each_overflow_error: bool = False  # True: an #each over more than each_items items fails the render


DEFAULT_LIMITS = Limits()
