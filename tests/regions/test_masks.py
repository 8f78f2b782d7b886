from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photostyle.errors import MaskError
from photostyle.regions.labels import DPST_COLOURS, colours_from_labels, labels_from_colours, pair_by_label, read_mask


def test_dpst_hand_masks_are_accepted(dpst_dev) -> None:
    for name in ("in1", "tar1", "in25", "tar25", "in40", "tar40"):
        path = dpst_dev / "segmentation" / f"{name}.png"
        lab = read_mask(path)
        rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
        for k, (_, c) in enumerate(DPST_COLOURS):
            hit = np.abs(rgb - c).max(-1) == 0
            if hit.mean() > 0.02:  # pure code pixels of real regions keep their label (bar thin lines)
                assert np.mean(lab[hit] == k) > 0.99
        assert lab.min() >= 0 and lab.shape == rgb.shape[:2]  # every pixel labelled (edges snapped)


def test_anti_aliased_edges_snap_and_thin_lines_refill() -> None:
    lab = np.zeros((40, 40), np.int32)
    lab[:, 20:] = 3  # black | white
    rgb = colours_from_labels(np.where(lab == 3, 3, 2)).astype(np.int16)
    rgb[:, 20] = 128  # an anti-aliased edge column: grey-looking
    rgb[5, 5] = (10, 10, 30)  # a near-black speck
    out = labels_from_colours(rgb.astype(np.uint8))
    assert set(np.unique(out)) == {2, 3}  # no spurious grey region from the edge


def test_foreign_colours_are_refused_with_counts(tmp_path) -> None:
    rgb = colours_from_labels(np.zeros((30, 30), np.int32))
    rgb[:, :10] = (200, 120, 40)  # orange: no code colour
    path = tmp_path / "mask.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(MaskError, match=r"mask\.png.*33\.3%.*rgb\(200, 120, 40\): 300 px.*blue, green"):
        read_mask(path)


def test_size_mismatch_resized_with_warning(tmp_path) -> None:
    lab = np.zeros((20, 30), np.int32)
    lab[10:] = 1
    path = tmp_path / "m.png"
    Image.fromarray(colours_from_labels(lab)).save(path)
    with pytest.warns(UserWarning, match="resized with nearest neighbour"):
        out = read_mask(path, (60, 40))
    assert out.shape == (40, 60) and out[:20].max() == 0 and out[20:].min() == 1


def test_grey_label_png(tmp_path) -> None:
    g = np.zeros((20, 20), np.uint8)
    g[:, 10:] = 200
    path = tmp_path / "grey.png"
    Image.fromarray(g).save(path)
    lab = read_mask(path)
    assert set(np.unique(lab)) == {0, 1}


def test_missing_partner_falls_back_to_whole_reference() -> None:
    photo = np.zeros((10, 10), np.int32)
    photo[5:] = 4
    ref = np.zeros((10, 10), np.int32)
    with pytest.warns(UserWarning, match="red"):
        pairs = pair_by_label(photo, ref)
    assert pairs.partner == {0: 0, 4: -1}


def _antialiased_disc(low: int, high: int, size: int = 96) -> np.ndarray:
    """A grey disc of HIGH on LOW, its border anti-aliased (a soft ramp, as a drawing program saves it)."""
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    t = np.clip((size / 3 - r) / 1.5 + 0.5, 0, 1)  # 1 inside, 0 outside, a 1.5 px ramp along the circle
    return np.round(low + (high - low) * t).astype(np.uint8)


def test_antialiased_black_and_white_grey_png_reads_as_dpst_colours(tmp_path) -> None:
    """A black-and-white mask saved as a grey-scale PNG with anti-aliased edges (as DPST's own tar7.png) reads as
    the DPST black and white regions, the same labels as the colour PNG of the same drawing."""
    g = _antialiased_disc(0, 255)
    g[0, :70] = np.arange(70)  # more grey values than a label map has, as in DPST's file (251)
    assert len(np.unique(g)) > 64
    Image.fromarray(g).save(tmp_path / "grey.png")
    Image.fromarray(np.repeat(g[..., None], 3, 2)).save(tmp_path / "rgb.png")
    lab = read_mask(tmp_path / "grey.png")
    assert set(np.unique(lab)) == {2, 3}  # black, white
    assert (lab == read_mask(tmp_path / "rgb.png")).mean() > 0.999


def test_antialiased_grey_levels_snap_to_their_levels(tmp_path) -> None:
    g = _antialiased_disc(60, 200)
    g[:, :20] = 110  # a third level
    g[0, :70] = np.arange(70)
    Image.fromarray(g).save(tmp_path / "grey.png")
    lab = read_mask(tmp_path / "grey.png")
    assert set(np.unique(lab)) == {0, 1, 2}  # 60, 110, 200 in increasing grey
    assert lab[48, 48] == 2 and lab[5, 90] == 0 and lab[48, 5] == 1


def test_photograph_like_grey_image_is_refused(tmp_path) -> None:
    from ..conftest import SAMPLES

    Image.open(SAMPLES / "chelsea.png").convert("L").resize((96, 64)).save(tmp_path / "photo.png")
    with pytest.raises(MaskError, match="looks like a photograph"):
        read_mask(tmp_path / "photo.png")


def test_mask_of_another_aspect_is_refused_naming_both_sizes(tmp_path) -> None:
    lab = np.zeros((20, 30), np.int32)
    Image.fromarray(colours_from_labels(lab)).save(tmp_path / "m.png")
    with pytest.raises(MaskError, match=r"m\.png: mask is 30x20 but its image is 60x60"):
        read_mask(tmp_path / "m.png", (60, 60))
    with pytest.warns(UserWarning, match="resized"):  # within a pixel: the same shape, resized
        assert read_mask(tmp_path / "m.png", (61, 40)).shape == (40, 61)


def test_mask_drawn_on_the_unrotated_pixels_gets_the_photos_orientation(tmp_path) -> None:
    """A JPEG stored 64x32 with EXIF orientation 6 (turn 90 degrees clockwise) shows 32x64; a mask drawn on the
    stored pixels (64x32, red on the left) is turned like the photo: red on top."""
    from photostyle.imageio import read_image
    from photostyle.regions import prepare_masks

    stored = np.zeros((32, 64, 3), np.uint8)
    stored[:, :32] = (200, 60, 40)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "photo.jpg", exif=exif.tobytes())
    photo = read_image(tmp_path / "photo.jpg")
    assert photo.size == (32, 64) and photo.orientation == 6
    lab = np.zeros((32, 64), np.int32)
    lab[:, :32] = 4  # red, where the photo's reddish half is stored
    Image.fromarray(colours_from_labels(lab)).save(tmp_path / "mask.png")
    pairs, _ = prepare_masks(photo, photo, photo_mask=tmp_path / "mask.png", reference_mask=tmp_path / "mask.png")
    assert pairs is not None and pairs.photo.shape == (64, 32)
    assert (pairs.photo[:32] == 4).all() and (pairs.photo[32:] == 0).all()
    assert photo.pixels[:32, :, 0].mean() > 0.5 > photo.pixels[32:, :, 0].mean()  # the red half is on top


def test_a_mask_a_pixel_off_is_the_same_shape() -> None:
    """DPST's own in7 mask is 700x393 for its 700x394 photo: a rounding, resized with a warning; another shape
    (or the photo's turned size) is still refused."""
    from photostyle.regions.labels import same_aspect

    assert same_aspect((700, 393), (700, 394)) and same_aspect((394, 700), (393, 700))
    assert same_aspect((350, 197), (700, 394))  # half size
    assert not same_aspect((700, 380), (700, 394))
    assert not same_aspect((394, 700), (700, 394))
