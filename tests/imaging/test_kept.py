"""The per-process caches' one LRU map, keyed by pixels."""

from __future__ import annotations

import numpy as np

from photostyle.imaging.kept import Kept, pixel_key


def test_pixel_keys_follow_the_pixels_shape_and_dtype() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert pixel_key(a) == pixel_key(a.copy()) == pixel_key(np.asfortranarray(a))
    assert len({pixel_key(a), pixel_key(a.reshape(4, 3)), pixel_key(a.astype(np.float64)), pixel_key(a + 1)}) == 4


def test_the_least_recently_used_goes_first() -> None:
    kept: Kept[str] = Kept(2)
    assert kept.put("a", "A") == "A" and kept.get("a") == "A" and kept.get("b") is None
    kept.put("b", "B")
    kept.get("a")  # "b" is now the least recently used
    kept.put("c", "C")
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == ("A", None, "C", 2)
    kept.clear()
    assert len(kept) == 0 and kept.get("a") is None
