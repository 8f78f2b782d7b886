"""Which reference region each photo region copies (``match_regions``), and the canonical form of the result: a
photo region and its partner share one id, at most nine ids (the DPST colours)."""

from __future__ import annotations

import warnings

import numpy as np

from photostyle.regions.cleanup import _merge_into_neighbours
from photostyle.regions.labels import RegionPairs
from photostyle.regions.segmentation import MAX_REGIONS, Segmentation

# the colour (DPST label id) a named region gets when it is free: sky blue, vegetation green, person red ...
PREFERRED_IDS = {"sky": 0, "vegetation": 1, "person": 4, "building": 6, "water": 7}
# objects a region of another kind never takes its look from by mere similarity
THING_NAMES = frozenset({"person", "vehicle", "animal", "object"})


def match_regions(
    photo: np.ndarray,
    reference: np.ndarray,
    photo_names: dict[int, str],
    reference_names: dict[int, str],
    photo_desc: dict[int, np.ndarray] | None = None,
    reference_desc: dict[int, np.ndarray] | None = None,
    *,
    max_distance: float = 2.5,
) -> tuple[dict[int, int], np.ndarray, dict[int, str]]:
    """For each photo region, its reference partner (-1: the whole reference); returns (partner, reference labels,
    reference names), the reference's regions that go to one photo region merged into one.

    By name where both images have the name. The rest by descriptor, both ways: every reference region goes to
    the nearest photo region (so the whole reference is used), and a photo region no reference region chose
    takes its nearest one; distances over MAX_DISTANCE do not pair. People and other objects (THING_NAMES) pair by
    name only. A photo region left without a partner takes the whole reference, with a warning naming it.
    """
    ref_ids = [int(k) for k in np.unique(reference)]
    photo_ids = [int(k) for k in np.unique(photo)]
    by_name = {n: k for k, n in reference_names.items() if n and k in ref_ids}
    partner: dict[int, int] = {}
    for k in photo_ids:
        name = photo_names.get(k, "")
        if name and name in by_name:
            partner[k] = by_name[name]
    ref_out, ref_names = reference, dict(reference_names)
    if photo_desc is not None and reference_desc is not None:
        taken = set(partner.values())
        free_p = [
            k for k in photo_ids if k not in partner and k in photo_desc and photo_names.get(k) not in THING_NAMES
        ]
        free_r = [
            j for j in ref_ids if j not in taken and j in reference_desc and reference_names.get(j) not in THING_NAMES
        ]
        if free_p and free_r:
            d = np.array([[float(np.linalg.norm(photo_desc[k] - reference_desc[j])) for j in free_r] for k in free_p])
            owned: dict[int, list[int]] = {}
            for b, j in enumerate(free_r):
                a = int(d[:, b].argmin())
                if d[a, b] <= max_distance:
                    owned.setdefault(free_p[a], []).append(j)
            merged_into: dict[int, int] = {}
            if any(len(js) > 1 for js in owned.values()):
                ref_out = reference.copy()
            for k, js in owned.items():
                partner[k] = js[0]
                for j in js[1:]:
                    ref_out[reference == j] = js[0]
                    merged_into[j] = js[0]
                    if not ref_names.get(js[0]) and ref_names.get(j):
                        ref_names[js[0]] = ref_names[j]
                    ref_names.pop(j, None)
            for a, k in enumerate(free_p):
                if k not in partner and d[a].min() <= max_distance:
                    j = free_r[int(d[a].argmin())]
                    partner[k] = merged_into.get(j, j)
    missing = [photo_names.get(k) or f"region {k}" for k in photo_ids if k not in partner]
    for k in photo_ids:
        partner.setdefault(k, -1)
    if missing:
        warnings.warn(
            f"the reference has nothing like the photo's {', '.join(missing)}: "
            f"{'it takes' if len(missing) == 1 else 'they take'} the look of the whole reference. "
            "Pick a reference with such a region, or draw masks (photostyle masks ... then --photo-mask).",
            stacklevel=2,
        )
    return partner, ref_out, ref_names


def _canonical(
    photo: np.ndarray,
    reference: np.ndarray,
    partner: dict[int, int],
    photo_names: dict[int, str],
    reference_names: dict[int, str],
    backend: str,
) -> Segmentation:
    """Renumber so a photo region and its partner share one id (photo regions with one partner are merged), with
    at most MAX_REGIONS ids in all; partner becomes {id: id or -1}."""
    p_area = {int(k): int(c) for k, c in zip(*np.unique(photo, return_counts=True), strict=True)}
    r_area = {int(k): int(c) for k, c in zip(*np.unique(reference, return_counts=True), strict=True)}
    groups: dict[int, list[int]] = {}
    lone: list[int] = []
    for k in p_area:
        j = partner.get(k, -1)
        if j >= 0 and j in r_area:
            groups.setdefault(j, []).append(k)
        else:
            lone.append(k)
    ref_only = [j for j in r_area if j not in groups]
    # too many regions for the nine colours: merge the smallest unpaired reference regions, then photo regions
    while len(groups) + len(lone) + len(ref_only) > MAX_REGIONS:
        if ref_only and len(r_area) > 1:
            reference = _merge_into_neighbours(reference, [min(ref_only, key=lambda v: r_area[v])])
        else:
            photo = _merge_into_neighbours(photo, [min(lone or list(p_area), key=lambda v: p_area[v])])
        p_area = {int(v): int(c) for v, c in zip(*np.unique(photo, return_counts=True), strict=True)}
        r_area = {int(v): int(c) for v, c in zip(*np.unique(reference, return_counts=True), strict=True)}
        groups = {j: [v for v in g if v in p_area] for j, g in groups.items() if j in r_area}
        groups = {j: g for j, g in groups.items() if g}
        lone = [v for v in p_area if not any(v in g for g in groups.values())]
        ref_only = [j for j in r_area if j not in groups]
    items: list[tuple[str, list[int], int | None, str]] = []  # (kind, photo labels, reference label, name)
    for j, ks in sorted(groups.items(), key=lambda t: -sum(p_area[v] for v in t[1])):
        ks_names = {photo_names.get(v, "") for v in ks}
        name = ks_names.pop() if len(ks_names) == 1 else ""
        items.append(("pair", ks, j, name or reference_names.get(j, "")))
    for k in sorted(lone, key=lambda v: -p_area[v]):
        items.append(("photo", [k], None, photo_names.get(k, "")))
    for j in sorted(ref_only, key=lambda v: -r_area[v]):
        items.append(("reference", [], j, reference_names.get(j, "")))
    ids: list[int | None] = [None] * len(items)
    used: set[int] = set()
    for i, (_, _, _, name) in enumerate(items):
        want = PREFERRED_IDS.get(name)
        if want is not None and want not in used:
            ids[i] = want
            used.add(want)
    free = iter(v for v in range(MAX_REGIONS) if v not in used)
    for i in range(len(items)):
        if ids[i] is None:
            ids[i] = next(free)
    new_p = np.zeros(photo.shape, np.int32)
    new_r = np.zeros(reference.shape, np.int32)
    new_partner: dict[int, int] = {}
    p_names: dict[int, str] = {}
    r_names: dict[int, str] = {}
    for (kind, ks, rj, name), new in zip(items, ids, strict=True):
        assert new is not None
        for k in ks:
            new_p[photo == k] = new
        if rj is not None:
            new_r[reference == rj] = new
        if kind != "reference":
            new_partner[new] = new if kind == "pair" else -1
            if name:
                p_names[new] = name
        if kind != "photo" and name:
            r_names[new] = (reference_names.get(rj, "") or name) if rj is not None else name
    return Segmentation(RegionPairs(new_p, new_r, new_partner), p_names, r_names, backend)
