"""A bounded, thread-safe least-recently-used map: the storage of the caches.

Not an adapter: a data structure the caching decorators share.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """At most ``max_entries`` items; a ``put`` beyond that drops the least
    recently used one. Writes hold one lock; ``get`` (the hot path: a hit on
    every warm request) takes none: ``OrderedDict.get`` and ``move_to_end``
    are each one atomic step under CPython's GIL, and an entry dropped
    between the two was still the answer when it was read."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("a cache holds at least one entry")
        self.max_entries = max_entries
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        items = self._items
        value = items.get(key)
        if value is not None:
            try:
                items.move_to_end(key)
            except KeyError:  # dropped or popped meanwhile by another thread
                pass
        return value

    def peek(self, key: K) -> V | None:
        """The value, without making it the most recently used."""
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
