"""Photo Style for GIMP 3: the procedure (GIMP's side; imported only inside GIMP).

- Which layer is styled: the original pixels always. A result layer carries a parasite naming its source layer
  (by tattoo); running on a result styles its source again, and each new result goes directly above the previous
  result of that source (issue 16, point 1).
- What is styled: the source's pixels and the selection, read when the job starts (``Snapshot``); edits made while
  the engine works change nothing (point 2). The selection becomes the result's layer mask (point 3).
- The reference: a photo file (the engine decodes the formats it reads, GIMP every other one it opens, and then
  the pixels travel) or a layer of an open image (point 5).
- Closing the image while the engine works stops the job and ends quietly (point 9).
"""

import json
import os

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
import photostyle_client as pc  # noqa: E402
from gi.repository import Gegl, Gimp, Gio, GLib, GObject  # noqa: E402

LOOK_PARASITE = "photostyle-look"  # on result layers: {"source": tattoo of the layer it was made from}
PREVIEW_NAME = "Photo Style preview"


def choice(items):
    c = Gimp.Choice.new()
    for i, (nick, label, help_) in enumerate(items):
        c.add(nick, i, label, help_)
    return c


def pixel_format(image):
    """(dtype, babl format name without alpha, bytes per channel) for moving pixels without losing precision.

    The names are sRGB formats: babl converts from and to the image's own colour profile on the way, so the engine
    sees colour-managed sRGB, like the reference, and the result lands back in the image's space.
    """
    P = Gimp.Precision
    prec = image.get_precision()
    eight = prec in (P.U8_LINEAR, P.U8_NON_LINEAR, P.U8_PERCEPTUAL)
    sixteen = prec in (P.U16_LINEAR, P.U16_NON_LINEAR, P.U16_PERCEPTUAL)
    srgb = image.get_effective_color_profile().is_equal(Gimp.ColorProfile.new_rgb_srgb())
    if eight and srgb:
        return "u8", "R'G'B' u8", 1
    if eight or sixteen:  # 8 bit in another colour space: 16 bit keeps the conversion lossless
        return "u16", "R'G'B' u16", 2
    return "f32", "R'G'B' float", 4


def with_alpha(fmt):
    return fmt.replace("'B' ", "'B'A ")


# ------------------------------------------------------------------------------------------------ source and stacking
def look_of(layer):
    """The source tattoo a result layer carries, or None for any other layer."""
    p = layer.get_parasite(LOOK_PARASITE)
    if p is None:
        return None
    try:
        return int(json.loads(bytes(p.get_data()).decode())["source"])
    except (ValueError, KeyError, TypeError):
        return None


def siblings(image, layer):
    parent = layer.get_parent()
    return list(parent.get_children() if parent is not None else image.get_layers())


def source_layer(image, drawable):
    """The layer whose original pixels a run styles: DRAWABLE, or the source of the result DRAWABLE is (the layer
    it was made from; when that is gone, the first layer under the results)."""
    tattoo = look_of(drawable)
    if tattoo is None:
        return drawable
    src = image.get_layer_by_tattoo(tattoo)
    if src is not None and src.is_valid():
        return src
    layers = siblings(image, drawable)
    for layer in layers[layers.index(drawable) + 1 :]:
        if look_of(layer) is None and not layer.is_group_layer():
            return layer
    return drawable


def insert_position(image, source):
    """(parent, position) that puts a new result directly above SOURCE's topmost result (or above SOURCE)."""
    layers = siblings(image, source)
    tattoo = source.get_tattoo()
    looks = [i for i, layer in enumerate(layers) if look_of(layer) == tattoo and layer.get_name() != PREVIEW_NAME]
    top = min(looks) if looks else layers.index(source)
    return source.get_parent(), top


def mark_look(layer, source):
    data = json.dumps({"source": source.get_tattoo()}).encode()
    layer.attach_parasite(Gimp.Parasite.new(LOOK_PARASITE, Gimp.PARASITE_PERSISTENT, list(data)))


# ------------------------------------------------------------------------------------------------ the snapshot
class Snapshot:
    """The source layer's pixels (RGB, and its alpha) and the selection over it (Y u8 at the layer's size, None when
    nothing is selected or everything is), read once."""

    def __init__(self, image, layer):
        Gegl.init(None)
        self.w, self.h = layer.get_width(), layer.get_height()
        self.dtype, self.fmt, self.bpc = pixel_format(image)
        self.rect = Gegl.Rectangle.new(0, 0, self.w, self.h)
        self.alpha = layer.has_alpha()
        buf = layer.get_buffer().get(
            self.rect, 1.0, with_alpha(self.fmt) if self.alpha else self.fmt, Gegl.AbyssPolicy.CLAMP
        )
        if self.alpha:
            self.rgb, self.rgba = pc.split_alpha(buf, self.bpc)
        else:
            self.rgb, self.rgba = bytes(buf), None
        self.mask = None
        if not Gimp.Selection.is_empty(image):
            _, ox, oy = layer.get_offsets()
            sel = image.get_selection().get_buffer()
            mask = bytes(sel.get(Gegl.Rectangle.new(ox, oy, self.w, self.h), 1.0, "Y u8", Gegl.AbyssPolicy.NONE))
            if mask.count(255) != len(mask):
                self.mask = mask
        self.touches = self.mask is None or any(self.mask)

    def request(self, reference, settings, masks, task="transfer"):
        if masks == "selection" and self.mask is None:
            raise pc.EngineError("'Selected object vs the rest' needs a selection: select the object first.")
        mask = self.mask if masks == "selection" else None
        return pc.make_request(self.rgb, self.w, self.h, self.dtype, reference, settings, masks, mask, task)

    def pixels(self, data):
        """The engine's RGB result as bytes to write into a layer like the source (its alpha put back)."""
        return pc.merge_alpha(bytearray(self.rgba), data, self.bpc) if self.alpha else data


def write_layer(layer, snap, data):
    """Write DATA (engine RGB at the snapshot's size) into LAYER, every pixel (the selection goes in the mask), with
    the snapshot's alpha."""
    buf = layer.get_buffer()
    buf.set(snap.rect, with_alpha(snap.fmt) if snap.alpha else snap.fmt, snap.pixels(data))
    buf.flush()
    layer.update(0, 0, snap.w, snap.h)


def overlay_layer(image, source, snap, data, name):
    """A plain layer showing DATA (u8 RGB at the snapshot's size: the regions overlay) above SOURCE's results."""
    kind = Gimp.ImageType.RGB_IMAGE if image.get_base_type() == Gimp.ImageBaseType.RGB else Gimp.ImageType.GRAY_IMAGE
    layer = Gimp.Layer.new(image, name, snap.w, snap.h, kind, 100.0, Gimp.LayerMode.NORMAL)
    parent, pos = insert_position(image, source)
    image.insert_layer(layer, parent, pos)
    _, ox, oy = source.get_offsets()
    layer.set_offsets(ox, oy)
    buf = layer.get_buffer()
    buf.set(snap.rect, "R'G'B' u8", data)
    buf.flush()
    layer.update(0, 0, snap.w, snap.h)
    return layer


def add_layer(image, source, snap, name, data, *, mark=True):
    """A new layer like SOURCE holding DATA, directly above SOURCE's last result, masked by the snapshot's
    selection."""
    layer = source.copy()
    if layer.get_mask() is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    parent, pos = insert_position(image, source)
    image.insert_layer(layer, parent, pos)
    layer.set_name(name)
    layer.set_visible(True)
    write_layer(layer, snap, data)
    if snap.mask is not None:
        mask = layer.create_mask(Gimp.AddMaskType.WHITE)
        layer.add_mask(mask)
        mbuf = mask.get_buffer()
        mbuf.set(snap.rect, "Y u8", snap.mask)
        mbuf.flush()
        mask.update(0, 0, snap.w, snap.h)
    if mark:
        mark_look(layer, source)
    return layer


# ------------------------------------------------------------------------------------------------ the reference
_OPENS = {}


def decode_with_gimp(path):
    """The reference as pixels, decoded by GIMP (every format it opens): Pixels, or None when GIMP cannot."""
    try:
        img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
    except GLib.Error:
        return None
    if img is None:
        return None
    try:
        if img.get_base_type() != Gimp.ImageBaseType.RGB:
            img.convert_rgb()
        layer = img.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE) if len(img.get_layers()) > 1 else None
        layer = layer or img.get_layers()[0]
        return layer_pixels(img, layer, os.path.splitext(os.path.basename(path))[0])
    finally:
        img.delete()


def gimp_opens(path):
    if path not in _OPENS:
        _OPENS[path] = decode_with_gimp(path)
    return _OPENS[path] is not None


def layer_pixels(image, layer, name):
    """A layer's RGB pixels as Pixels (its alpha dropped)."""
    Gegl.init(None)
    dtype, fmt, bpc = pixel_format(image)
    w, h = layer.get_width(), layer.get_height()
    data = layer.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
    return pc.Pixels(data, w, h, dtype, name)


def reference_for(choices):
    """What the request sends as the reference (a path or Pixels) and its name for the layer."""
    if choices["reference-from"] == "layer":
        layer = choices["reference-layer"]
        img = layer.get_image()
        f = img.get_file() or img.get_imported_file()  # an XCF, or an imported file (None for scripted images)
        stem = os.path.splitext(os.path.basename(f.get_path() or ""))[0] if f is not None else ""
        name = os.path.splitext(layer.get_name())[0]  # a file's layer is named after the file
        if stem and len(img.get_layers()) > 1:
            name = f"{stem} {name}"
        elif stem:
            name = stem
        return layer_pixels(img, layer, name), name
    path = choices["reference"]
    name = os.path.splitext(os.path.basename(path))[0]
    if os.path.splitext(path)[1].lower() in pc.ENGINE_SUFFIXES:
        return path, name
    pixels = _OPENS.get(path) or decode_with_gimp(path)
    if pixels is None:
        raise pc.EngineError(reference_problem(choices))
    return pixels, name


# ------------------------------------------------------------------------------------------------ the checks
def read_choices(config):
    f = config.get_property("reference")
    return {
        "reference-from": config.get_property("reference-from"),
        "reference": f.get_path() if f is not None else "",
        "reference-layer": config.get_property("reference-layer"),
        "quality": config.get_property("quality"),
        "preserve-color": config.get_property("preserve-color"),
        "strength": config.get_property("strength"),
        "skin": config.get_property("skin"),
        "masks": config.get_property("masks"),
        "settings-json": config.get_property("settings-json"),
        "region-strength": config.get_property("region-strength"),
    }


def reference_problem(choices):
    if choices["reference-from"] == "layer":
        layer = choices["reference-layer"]
        if layer is None or not layer.is_valid():
            return "Choose the open image to take the look from, or take it from a photo file."
        return ""
    return pc.reference_file_problem(choices["reference"], gimp_opens)


def problem(image, drawables, choices):
    """The first thing that stops a run, as a sentence saying what to do; '' when it can run."""
    if len(drawables) != 1:
        return "Photo Style works on one layer: select exactly one layer."
    d = drawables[0]
    if not isinstance(d, Gimp.Layer) or d.is_group_layer():
        return "Photo Style works on a pixel layer: select a layer (not a group, channel or mask)."
    msg = reference_problem(choices)
    if msg:
        return msg
    empty = Gimp.Selection.is_empty(image)
    if choices["masks"] == "selection" and empty:
        return (
            "'Selected object vs the rest' needs a selection: select the object first, or choose another way to "
            "share out the look."
        )
    if not empty and not d.mask_intersect()[0]:
        return "The selection does not touch this layer: select part of the layer, or select none."
    try:
        settings_for(choices)
    except pc.EngineError as exc:
        return str(exc)
    return ""


def settings_for(choices, quality=None):
    return pc.settings_dict(
        quality or choices["quality"],
        choices["preserve-color"],
        choices["strength"],
        choices["settings-json"],
        choices["skin"],
        pc.parse_region_strength(choices["region-strength"]),
    )


def result_name(choices, ref_name):
    regions = pc.parse_region_strength(choices["region-strength"])
    return pc.layer_name(
        ref_name,
        choices["quality"],
        choices["preserve-color"],
        choices["strength"],
        choices["skin"],
        choices["masks"],
        regions,
    )


# ------------------------------------------------------------------------------------------------ a run
def still_open(image, layer):
    """Whether IMAGE is still open in GIMP and LAYER still in it. A run started from the menu loses its image with
    the image's last window: the run stops there and the job is cancelled (the real-GIMP dialog test closes the
    window mid-run). A script that passed the image keeps it alive itself, and the run finishes for it."""
    return image.is_valid() and layer.is_valid()


def transfer(image, source, choices):
    """Snapshot, send, wait (progress in the status bar; the image closed stops it), add the result layer.
    Returns (the layer, the engine's header). Raises EngineError, or Stopped when the image was closed."""
    snap = Snapshot(image, source)
    reference, ref_name = reference_for(choices)
    request = snap.request(reference, settings_for(choices), choices["masks"])
    Gimp.progress_init(f"Photo Style: the look of {ref_name}")
    meter = pc.Progress()

    def progress(fraction, message):
        if not still_open(image, source):
            raise pc.Stopped()
        Gimp.progress_update(max(0.0, min(1.0, fraction)))
        Gimp.progress_set_text("Photo Style: " + meter.line(fraction, message))

    header, out = pc.run_engine(pc.load_config(), request, progress)
    if not still_open(image, source):
        raise pc.Stopped()
    if (header.get("width"), header.get("height"), header.get("dtype")) != (snap.w, snap.h, snap.dtype):
        raise pc.EngineError("The engine returned an image of another size: update photostyle.")
    Gimp.progress_set_text("Photo Style: adding the layer")
    Gimp.context_push()
    image.undo_group_start()
    try:
        layer = add_layer(image, source, snap, result_name(choices, ref_name), out)
        image.set_selected_layers([layer])
    finally:
        image.undo_group_end()
        Gimp.context_pop()
    Gimp.progress_end()
    return layer, header


def result_message(header):
    """The notes and the region match confidence after a run ('' when there is nothing to say)."""
    notes = [pc.plain(n) for n in header.get("warnings", [])]
    return "\n".join(notes)


def run(procedure, run_mode, image, drawables, config, data):
    def error(message, status=Gimp.PDBStatusType.EXECUTION_ERROR):
        return procedure.new_return_values(status, GLib.Error(message))

    if run_mode == Gimp.RunMode.INTERACTIVE:
        from photostyle_dialog import run_dialog

        return run_dialog(procedure, image, drawables, config)
    choices = read_choices(config)
    msg = problem(image, drawables, choices)
    if msg:
        return error(msg, Gimp.PDBStatusType.CALLING_ERROR)
    return finish_run(procedure, image, source_layer(image, drawables[0]), choices)


def attempt(image, source, choices, show=Gimp.message):
    """Run, show the notes, and say how it went: ("ok", ""), ("stopped", "") when the image was closed (quietly),
    or ("error", the message)."""
    try:
        _, header = transfer(image, source, choices)
    except pc.Stopped:
        return "stopped", ""
    except pc.EngineError as exc:
        _end_progress(image)
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - one clear message in GIMP rather than a crashed plug-in
        if not still_open(image, source):
            return "stopped", ""
        _end_progress(image)
        return "error", f"Photo Style stopped on an unexpected problem ({type(exc).__name__}); please report it."
    msg = result_message(header)
    if msg:
        show("Photo Style: " + msg)
    Gimp.displays_flush()
    return "ok", ""


def finish_run(procedure, image, source, choices):
    """Run and answer GIMP: success, a quiet cancel when the image was closed, or the error."""
    outcome, detail = attempt(image, source, choices)
    if outcome == "ok":
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    if outcome == "stopped":
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(detail))


def _end_progress(image):
    if image.is_valid():
        Gimp.progress_end()


# ------------------------------------------------------------------------------------------------ registration
def help_folder():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "help")


class PhotoStyle(Gimp.PlugIn):
    def do_query_procedures(self):
        self.set_help_domain(pc.HELP_DOMAIN, Gio.File.new_for_path(help_folder()))
        return [pc.PROC_NAME]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        proc.set_image_types("RGB*, GRAY*")
        proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        proc.set_menu_label("_Transfer Look...")
        proc.add_menu_path("<Image>/Filters/Photo Style")
        proc.set_documentation(
            "Re-render the layer in the look of a reference photo",
            "Photorealistic look transfer (Deep Photo Style Transfer) by the photostyle engine. The result is a new "
            "layer directly above the layer (or its last result); with a selection, the selection is the result's "
            "layer mask.",
            pc.PROC_NAME,
        )
        proc.set_attribution("photostyle", "photostyle (MIT)", "2025")
        rw = GObject.ParamFlags.READWRITE
        proc.add_choice_argument(
            "reference-from",
            "Look _taken from",
            "Take the look from a photo file or from an image open in GIMP",
            choice(pc.REFERENCE_FROM),
            "file",
            rw,
        )
        proc.add_file_argument(
            "reference",
            "Reference _photo",
            "The photo whose look to transfer (any format GIMP opens)",
            Gimp.FileChooserAction.OPEN,
            True,
            None,
            rw,
        )
        proc.add_layer_argument(
            "reference-layer", "Open _image", "A layer of an open image whose look to transfer", True, rw
        )
        proc.add_choice_argument(
            "quality",
            "_Quality",
            "Preview takes seconds: judge the look with it. Best takes minutes: the finished look.",
            choice(pc.QUALITIES),
            "preview",
            rw,
        )
        proc.add_choice_argument(
            "preserve-color",
            "Keep the photo's colo_urs",
            "Off: the photo takes the reference's colours. Luminance only: only brightness and contrast change. "
            "Histogram: colours matched to the reference's overall spread.",
            choice(pc.PRESERVE),
            "none",
            rw,
        )
        proc.add_double_argument(
            "strength",
            "Stre_ngth (%)",
            "How much of the look, in percent: 0 % leaves the photo as it is, 100 % gives the full look",
            0.0,
            1.0,
            1.0,
            rw,
        )
        proc.add_choice_argument(
            "skin",
            "S_kin",
            "Protect: where a person is found, skin keeps natural skin tones",
            choice(pc.SKIN),
            "protect",
            rw,
        )
        proc.add_choice_argument(
            "masks",
            "Share out the look b_y",
            "Automatic regions: sky takes the reference's sky, people its people, the rest its rest. One look: "
            "the whole reference for the whole image. Selected object: the selection and the rest separately.",
            choice(pc.MASKS),
            "auto",
            rw,
        )
        proc.add_string_argument(
            "region-strength",
            "Region strengths",
            'Strength of single automatic regions as JSON, region id: 0 to 1, e.g. {"2": 0.5}',
            "",
            rw,
        )
        proc.add_string_argument(
            "settings-json",
            "A_dvanced settings (JSON)",
            'More engine settings as a JSON object, e.g. {"iterations": [30, 8, 40]}',
            "",
            rw,
        )
        return proc


def run_plugin(argv):
    Gimp.main(PhotoStyle.__gtype__, argv)
