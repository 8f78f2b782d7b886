"""Automatic masks: regions of the photo and of the reference, and which reference region each photo region copies.

Backends (``segment_pair(..., backend=)``), chosen by what is installed unless named:

* ``features`` (offline, always there): superpixels of both images described in one space by VGG-19 features
  (the network the transfer already loads; centred per image so a night reference and a day photo still agree),
  colour and position; each image clustered there (k-means, the number of regions picked by silhouette), the
  clusters paired across the images by their VGG-19 features and height (not colour: the look, and so the
  colours, differ by design), each pair split further in both images at once where both agree on the split (so
  the number of regions follows the data: sky and clouds in both, or one region when only one image has clouds),
  the regions snapped to each image's edges with a guided filter and cleaned of specks. Regions get a name where
  a simple rule is sure of it ("sky": a smooth region holding the top border).
* ``person``: mediapipe's selfie segmentation (``mediapipe==0.10.21``, the model ships in the wheel), merged into
  the feature regions as a region named "person" when mediapipe is installed.
* ``detectron2``: COCO panoptic segmentation when detectron2 is installed (see ``labels_from_panoptic`` for the
  output format it reads); its classes are grouped into the region names of ``GROUPS``.
* user masks: DPST colour PNGs and grey-level label PNGs (``photostyle.regions.read_mask``), or named channels
  (GIMP) through ``labels_from_channels``.

Matching: regions with the same name pair up; the others by descriptor, both ways (each reference region goes to
its most similar photo region, so the whole reference is used; a photo region no reference region chose takes its
most similar one); a photo region with nothing like it in the reference takes the look of the whole reference
(with a warning). The result is put in canonical form: a photo region and its partner share their id (so the label
maps written as DPST colour PNGs pair again by colour), at most nine ids.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from photostyle.errors import InputError, SettingsError
from photostyle.imageio.photo import Photo, as_pixels
from photostyle.imaging.kept import Kept, pixel_key
from photostyle.imaging.resize import resize_longest
from photostyle.regions.cleanup import _limit_regions, drop_thin, finish_labels
from photostyle.regions.confidence import region_confidence
from photostyle.regions.correspondence import superpixel_correspondence
from photostyle.regions.features import _sky_regions, feature_regions
from photostyle.regions.labels import RegionPairs, make_pairs
from photostyle.regions.matching import _canonical, match_regions
from photostyle.regions.panoptic import PanopticSegmenter
from photostyle.regions.person import WORK_SIZE as PERSON_SIZE
from photostyle.regions.person import PersonSegmenter, merge_named
from photostyle.regions.segmentation import BACKENDS, SNAP_SIZE, PathLike, Segmentation
from photostyle.regions.targeting import needs_names, needs_regions
from photostyle.runtime import set_threads
from photostyle.settings import Settings


def available_backends() -> dict[str, bool]:
    """Which backends this installation has."""
    return {"features": True, "person": PersonSegmenter().available(), "detectron2": PanopticSegmenter().available()}


@dataclass
class _Found:
    """Regions of both images at the snapping size before tidying: label maps, names, partner, backend used."""

    photo: np.ndarray
    reference: np.ndarray
    photo_names: dict[int, str]
    reference_names: dict[int, str]
    partner: dict[int, int]
    backend: str


def _pick_backend(backend: str, panoptic: PanopticSegmenter) -> str:
    """'auto' resolved to what is installed; an unknown or missing backend refused."""
    if backend not in BACKENDS:
        raise SettingsError(f"segmenter must be one of {', '.join(BACKENDS)}, not {backend!r}.")
    if backend == "auto":
        backend = "detectron2" if panoptic.available() else "features"
    if backend == "detectron2" and not panoptic.available():
        raise SettingsError(
            "the detectron2 segmenter needs detectron2, which is not installed (it has no wheels on PyPI): "
            "build it from its repository in this environment, or use --masks features."
        )
    return backend


def _panoptic_regions(panoptic: PanopticSegmenter, ps: np.ndarray, rs: np.ndarray) -> _Found:
    """detectron2's regions of both images, cleaned and matched by name and descriptor."""
    pl, pn = panoptic.segment(ps)
    rl, rn = panoptic.segment(rs)
    pl, rl = _limit_regions(pl, pn), _limit_regions(rl, rn)
    pl, rl = finish_labels(pl, ps), finish_labels(rl, rs)
    partner, rl, rn = match_regions(pl, rl, pn, rn)
    return _Found(pl, rl, pn, rn, partner, "detectron2")


def _feature_regions(
    images: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    person: bool | None,
    flat_reference: bool,
    vgg_weights: PathLike | None,
) -> _Found:
    """The feature segmenter's regions of IMAGES (photo, reference, and both shrunk to SNAP_SIZE), people merged
    in (mediapipe), matched, the sky named; label maps at SNAP_SIZE."""
    p, r, ps, rs = images
    pn: dict[int, str] = {}
    rn: dict[int, str] = {}
    pl, rl, pd, rd, roots = feature_regions(ps, rs, vgg_weights=vgg_weights)
    # "sky" by the rule, on the regions as clustered before the splits (a sky split into bands is all sky);
    # the names are given after matching: the split halves are paired already, band with band
    sky_p, sky_r = _sky_regions(pl, ps, roots), ([] if flat_reference else _sky_regions(rl, rs, roots))
    used = "features"
    people = PersonSegmenter()
    if person is None:
        person = people.available()
    if person:
        if not people.available():
            raise SettingsError(
                "person regions need mediapipe: pip install --no-deps mediapipe==0.10.21 "
                "(see scripts/setup.sh for the packages it needs)."
            )
        pid = int(max(pl.max(), rl.max())) + 1
        # the person maps are computed from the full images as the skin guard computes the photo's (cached:
        # the guard's call finds it, and an album's reference is looked at once)
        pp = people.person_probability(p, ps.shape[:2])
        pl = merge_named(pl, pn, people.segment(ps, pp)[0] > 0, "person", pid)
        if not flat_reference:
            rp = people.person_probability(_shrunk_reference(r, PERSON_SIZE), rs.shape[:2])
            rl = merge_named(rl, rn, people.segment(rs, rp)[0] > 0, "person", pid)
        used = "features+person"
        for d, labels in ((pd, pl), (rd, rl)):
            for k in [k for k in d if not (labels == k).any()]:
                del d[k]
    if flat_reference:
        partner = {int(k): -1 for k in np.unique(pl)}
    else:
        partner, rl, rn = _match_features(pl, rl, pn, rn, pd, rd)
    for labels, names, sky in ((pl, pn, sky_p), (rl, rn, sky_r)):
        for k in sky:
            if (labels == k).any() and k not in names:
                names[k] = "sky"
    return _Found(pl, rl, pn, rn, partner, used)


def _match_features(
    pl: np.ndarray,
    rl: np.ndarray,
    pn: dict[int, str],
    rn: dict[int, str],
    pd: dict[int, np.ndarray],
    rd: dict[int, np.ndarray],
) -> tuple[dict[int, int], np.ndarray, dict[int, str]]:
    """``match_regions`` for the feature regions, warning only about named photo regions left without a partner."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # photo regions with no partner are reported below, once
        partner, rl, rn = match_regions(pl, rl, pn, rn, pd, rd)
    # named regions only: an unnamed cluster no reference cluster went to takes the whole reference by
    # design (``_refine_pairs``), which is no news to the user
    lost = [pn[k] for k, j in partner.items() if j < 0 and pn.get(k)]
    if lost:
        warnings.warn(
            f"the reference has nothing like the photo's {', '.join(lost)}: "
            f"{'it takes' if len(lost) == 1 else 'they take'} the look of the whole reference.",
            stacklevel=4,
        )
    return partner, rl, rn


def _flat_reference(found: _Found) -> _Found:
    """A one-colour reference: one reference region, which every photo region takes its tone from (warned)."""
    warnings.warn(
        "the reference is one flat colour: every region of the photo takes that colour's tone "
        "(there is no texture or contrast to copy). Use a photograph as the reference.",
        stacklevel=3,
    )
    partner = {int(k): -1 for k in np.unique(found.photo)}
    return _Found(found.photo, np.zeros_like(found.reference), found.photo_names, {}, partner, found.backend)


def _tidy(found: _Found) -> Segmentation:
    """Thin lines dropped, partners and names of vanished regions forgotten, the result in canonical form."""
    pl, rl = drop_thin(found.photo), drop_thin(found.reference)
    pn, rn = found.photo_names, found.reference_names
    partner = {k: j for k, j in found.partner.items() if (pl == k).any()}
    partner = {k: (j if (rl == j).any() else -1) for k, j in partner.items()}
    for labels, names in ((pl, pn), (rl, rn)):
        for k in [k for k in names if not (labels == k).any()]:
            del names[k]
    return _canonical(pl, rl, partner, pn, rn, found.backend)


_SHRUNK: Kept[np.ndarray] = Kept(4)  # reference sizes a process keeps (the snapping size and the person model's, of
# two references)


def _shrunk_reference(r: np.ndarray, longest: int) -> np.ndarray:
    """R shrunk to LONGEST (``resize_longest``, scikit-image), kept by its pixels: a reference styled with many
    photos (an album, the GIMP service) is shrunk once (hashing 24 MP costs 0.3 s, shrinking it 1.5 s)."""
    if max(r.shape[:2]) <= longest:
        return resize_longest(r, longest, "skimage")
    a = np.ascontiguousarray(r)
    key = (pixel_key(a), longest)
    hit = _SHRUNK.get(key)
    if hit is not None:
        return hit
    small = resize_longest(a, longest, "skimage")
    small.setflags(write=False)  # shared by later callers
    return _SHRUNK.put(key, small)


def segment_pair(
    photo: np.ndarray | Photo,
    reference: np.ndarray | Photo,
    *,
    backend: str = "auto",
    person: bool | None = None,
    vgg_weights: PathLike | None = None,
) -> Segmentation:
    """Regions of PHOTO and REFERENCE (Photo objects or float RGB arrays) and their pairing, at each image's size.

    backend: 'auto' (detectron2 when installed, else 'features'), 'features' or 'detectron2'.
    The result carries how alike each photo region and its partner are (``confidence``, ``match_confidence``).
    person: merge mediapipe's person region into feature regions (None: when mediapipe is installed).
    """
    p, r = as_pixels(photo), as_pixels(reference)
    panoptic = PanopticSegmenter()
    backend = _pick_backend(backend, panoptic)
    ps, rs = resize_longest(p, SNAP_SIZE, "skimage"), _shrunk_reference(r, SNAP_SIZE)
    flat_reference = float(np.max(rs.reshape(-1, 3).std(0))) < 1.0 / 255
    if backend == "detectron2":
        found = _panoptic_regions(panoptic, ps, rs)
    else:
        found = _feature_regions((p, r, ps, rs), person=person, flat_reference=flat_reference, vgg_weights=vgg_weights)
    if flat_reference:
        found = _flat_reference(found)
    seg = _tidy(found)
    seg.confidence, seg.match_confidence = region_confidence(ps, rs, seg.pairs, vgg_weights=vgg_weights)
    seg.pairs.confidence, seg.pairs.match_confidence = dict(seg.confidence), seg.match_confidence
    if not flat_reference:
        seg.pairs.correspondence = superpixel_correspondence(ps, rs, vgg_weights=vgg_weights)
    seg.pairs = seg.pairs.resized(p.shape[:2], r.shape[:2])
    return seg


def user_masks(
    photo_mask: np.ndarray | PathLike,
    reference_mask: np.ndarray | PathLike,
    photo_hw: tuple[int, int],
    ref_hw: tuple[int, int],
    *,
    orientations: tuple[int, int] = (1, 1),
) -> Segmentation:
    """The user's masks (DPST colour PNGs, grey-level label PNGs or label arrays), paired by label; their label
    ids are kept (so ``--only 4`` is the mask's red region)."""
    pairs = make_pairs(photo_hw, ref_hw, photo_mask, reference_mask, orientations=orientations)
    return Segmentation(pairs, {}, {}, "user masks")


def _orientation(img: np.ndarray | Photo) -> int:
    return img.orientation if isinstance(img, Photo) else 1


def prepare_masks(
    photo: np.ndarray | Photo,
    reference: np.ndarray | Photo,
    *,
    masks: str = "auto",
    photo_mask: np.ndarray | PathLike | None = None,
    reference_mask: np.ndarray | PathLike | None = None,
    only: str | None = None,
    settings: Settings | None = None,
) -> tuple[RegionPairs | None, Segmentation | None]:
    """The region pairs a transfer uses and the segmentation ``--only`` resolves names and ids against.

    masks: 'auto' | 'features' | 'detectron2' (automatic masks), or 'none' (one global region). The user's
    photo_mask/reference_mask, when given, are the pairs; ``--only`` ids then refer to the photo mask's labels.
    """
    if masks not in BACKENDS + ("none",):
        raise SettingsError(f"--masks must be one of {', '.join(BACKENDS + ('none',))}, not {masks!r}.")
    p, r = as_pixels(photo), as_pixels(reference)
    vgg_weights = settings.vgg_weights if settings else None
    if settings is not None and settings.threads:
        set_threads(settings.threads)
    if photo_mask is not None or reference_mask is not None:
        if photo_mask is None or reference_mask is None:
            raise InputError("masks come in pairs: give both --photo-mask and --reference-mask, or neither.")
        turns = (_orientation(photo), _orientation(reference))
        user = user_masks(photo_mask, reference_mask, p.shape[:2], r.shape[:2], orientations=turns)
        if needs_names(only):
            return user.pairs, segment_pair(p, r, backend="auto" if masks == "none" else masks, vgg_weights=vgg_weights)
        return user.pairs, user
    if masks == "none":
        return None, (segment_pair(p, r, vgg_weights=vgg_weights) if needs_regions(only) else None)
    seg = segment_pair(p, r, backend=masks, vgg_weights=vgg_weights)
    return seg.pairs, seg
