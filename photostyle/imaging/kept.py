"""Results kept by the pixels they were computed from, written once for every per-process cache.

The automatic masks and the skin guard look at the same photo more than once, and an album or the GIMP service
styles many photos with one reference: its shrunk copies, VGG descriptors, person map and guided-filter statistics
are computed once. Each is a small least-recently-used map from ``pixel_key`` (and whatever else the result
depends on) to the result; lookups and inserts take the map's own lock, so threads may share it (the computation
itself runs outside it; a caller that must serialise it holds its own lock).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


def pixel_key(image: np.ndarray) -> str:
    """The identity of IMAGE's pixels: a SHA-1 of its bytes with its shape and dtype (hashing 24 MP costs 0.3 s)."""
    a = np.ascontiguousarray(image)
    return hashlib.sha1(a.tobytes()).hexdigest() + f"{a.shape}{a.dtype}"


class Kept(Generic[T]):
    """At most SIZE results, the least recently used dropped first."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: Hashable, value: T) -> T:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
