"""Compiled templates by source text: least recently used first out, bounded by count and by size.

functools.lru_cache bounds only the count, and one 600,000-character template of dense tags holds tens
of megabytes of nodes; so each entry is weighed (its source plus an estimate per tag) and the cache
keeps the total under `max_bytes`.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable

from .render import Template

MAX_ENTRIES = 256
MAX_BYTES = 64_000_000
BYTES_PER_TAG = 600  # measured: ~580 bytes of nodes per {{path}} tag when every path differs, ~180 when not


class TemplateCache:
    """A thread-safe LRU of compiled templates; `put` evicts the oldest entries until both bounds hold."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Template, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Template | None:
        """The template stored under `key`, now the most recently used; None if absent."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, template: Template, size: int) -> None:
        """Stores `template` weighing `size` bytes; one heavier than the whole cache is not stored."""
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (template, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The estimated bytes held."""
        return self._bytes
