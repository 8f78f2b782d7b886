#!/usr/bin/env python3
"""Photo Style for GIMP 3: Filters > Photo Style > Transfer Look...

Re-renders the active layer in the look of a reference photo, as a new layer above it, in one undo step. With a
selection, only the selected pixels change (with its feathering).

This file uses GObject Introspection and the Python standard library only: GIMP's bundled Python cannot import
torch, so the work is done by the photostyle engine, reached through ``photostyle serve`` (a local service on
127.0.0.1 with a token in a file only the user can read). The plug-in starts the service when it is not running,
and falls back to a one-shot ``photostyle serve --once`` subprocess when no service can be started.
``photostyle gimp install`` copies this file into GIMP's plug-in folder and records where the engine lives in
``photostyle.json`` beside it.

The module imports nothing from GIMP until GIMP runs it, so its engine client can be used (and tested) outside GIMP.
"""

import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

PROC_NAME = "plug-in-photostyle-transfer"
PROTOCOL = 1
START_TIMEOUT_S = 120.0  # a cold start imports torch and loads the model
CONFIG_NAME = "photostyle.json"
QUALITIES = (("preview", "Preview (seconds)"), ("best", "Best (minutes)"))
PRESERVE = (("none", "Off"), ("luminance", "Luminance only (keep the photo's colours)"), ("histogram", "Histogram"))
SKIN = (("protect", "Protect skin tones"), ("free", "Free (skin takes the look too)"))
MASKS = (("auto", "Automatic"), ("none", "None (whole image)"), ("selection", "Selection is the target object"))


class EngineError(Exception):
    """A problem to show the user in one message."""


# ------------------------------------------------------------------------------------------------ configuration
def _config_path():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG_NAME)


def load_config():
    """Where the engine lives ({"engine": [argv...], "service_file": path}), from the environment or the file
    ``photostyle gimp install`` wrote beside this plug-in."""
    cfg = {}
    try:
        with open(_config_path(), encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        cfg = {}
    if os.environ.get("PHOTOSTYLE_ENGINE"):
        cfg["engine"] = json.loads(os.environ["PHOTOSTYLE_ENGINE"])
    if os.environ.get("PHOTOSTYLE_SERVICE_FILE"):
        cfg["service_file"] = os.environ["PHOTOSTYLE_SERVICE_FILE"]
    if not cfg.get("service_file"):
        cfg["service_file"] = default_service_file()
    return cfg


def default_service_file():
    """The service's default file (the same rule as photostyle.service.service_file)."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support")
    else:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return os.path.join(base, "photostyle", "service.json")


# ------------------------------------------------------------------------------------------------ the wire format
def pack(header, blobs):
    h = dict(header, blobs=[[name, len(data)] for name, data in blobs])
    return json.dumps(h, separators=(",", ":")).encode() + b"\n" + b"".join(data for _, data in blobs)


def unpack(data):
    nl = data.find(b"\n")
    if nl < 0:
        raise EngineError("photostyle engine: malformed answer (no header line).")
    header = json.loads(data[:nl])
    blobs, pos = {}, nl + 1
    for name, size in header.get("blobs", []):
        blobs[name] = data[pos : pos + size]
        pos += size
    return header, blobs


def make_request(photo, width, height, dtype, reference_path, settings, masks="none", mask=None):
    """The request bytes: PHOTO is interleaved RGB of DTYPE ('u8', 'u16' or 'f32', native byte order)."""
    try:
        with open(reference_path, "rb") as f:
            ref = f.read()
    except OSError as exc:
        raise EngineError(f"{reference_path}: cannot read the reference photo ({exc.strerror or exc}).") from exc
    header = {
        "protocol": PROTOCOL,
        "photo": {"width": width, "height": height, "dtype": dtype, "byteorder": sys.byteorder},
        "reference_name": os.path.basename(reference_path),
        "settings": settings,
        "masks": masks,
    }
    blobs = [("photo", bytes(photo)), ("reference", ref)]
    if mask is not None:
        header["mask"] = {"width": width, "height": height}
        blobs.append(("mask", bytes(mask)))
    return pack(header, blobs)


def _result(header, blobs):
    if not header.get("ok"):
        raise EngineError(header.get("error") or "the photostyle engine failed without a message.")
    data = blobs.get("image", b"")
    if header.get("dtype") in ("u16", "f32") and header.get("byteorder", "little") != sys.byteorder:
        import array

        a = array.array("H" if header["dtype"] == "u16" else "f", data)
        a.byteswap()
        data = a.tobytes()
    return header, data


# ------------------------------------------------------------------------------------------------ the service
def _read_service_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "port" in info and "token" in info else None


def service_status(info, timeout=3.0):
    """The service's status dict, or None when it does not answer as a photostyle service."""
    conn = http.client.HTTPConnection("127.0.0.1", int(info["port"]), timeout=timeout)
    try:
        conn.request("GET", "/v1/status", headers={"Authorization": "Bearer " + info["token"]})
        resp = conn.getresponse()
        body = json.loads(resp.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return body if resp.status == 200 and body.get("service") == "photostyle" else None


def find_service(cfg):
    info = _read_service_file(cfg["service_file"])
    return info if info and service_status(info) else None


def _engine_argv(cfg):
    engine = cfg.get("engine")
    if not engine:
        return None
    argv = list(engine) if isinstance(engine, list) else [str(engine)]
    if os.path.exists("/.flatpak-info"):  # GIMP from Flatpak: the engine lives outside the sandbox
        argv = ["flatpak-spawn", "--host", *argv]
    return argv


def _popen_kwargs():
    if sys.platform == "win32":
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


def start_service(cfg, timeout=START_TIMEOUT_S):
    """Start ``photostyle serve`` in the background and wait until it answers; its info, or None."""
    argv = _engine_argv(cfg)
    if not argv:
        return None
    path = cfg["service_file"]
    log_path = os.path.join(os.path.dirname(path) or ".", "service.log")
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        log = open(log_path, "ab")  # handed to the child
    except OSError:
        log = subprocess.DEVNULL
    cmd = [*argv, "serve", "--service-file", path, "--idle-exit", str(cfg.get("idle_exit", 3600))]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **_popen_kwargs())
    except OSError:
        return None
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        info = find_service(cfg)
        if info:
            return info
        if proc.poll() is not None and not _read_service_file(path):
            return None
        time.sleep(0.25)
    return None


def transfer_via_service(info, request, progress=None, timeout=120.0):
    """POST the request and follow the progress stream; (header, pixel bytes) of the result."""
    conn = http.client.HTTPConnection("127.0.0.1", int(info["port"]), timeout=timeout)
    try:
        conn.request(
            "POST",
            "/v1/transfer",
            body=request,
            headers={
                "Authorization": "Bearer " + info["token"],
                "Content-Type": "application/x-photostyle",
                "Content-Length": str(len(request)),
            },
        )
        resp = conn.getresponse()
        if resp.status != 200:
            body = resp.read()
            try:
                msg = json.loads(body).get("error")
            except ValueError:
                msg = None
            raise EngineError(msg or f"the photostyle service answered HTTP {resp.status}.")
        while True:
            line = resp.readline()
            if not line:
                raise EngineError("the photostyle service closed the connection before the result.")
            msg = json.loads(line)
            if "progress" in msg:
                if progress:
                    progress(float(msg["progress"]), str(msg.get("message", "")))
                continue
            rest = resp.read()
            return _result(*unpack(line + rest))
    except (OSError, http.client.HTTPException) as exc:
        raise EngineError(f"lost the photostyle service ({exc}). See {info.get('url', 'the service')}.") from exc
    finally:
        conn.close()


def transfer_once(cfg, request, progress=None):
    """The fallback: one ``photostyle serve --once`` subprocess for this request."""
    argv = _engine_argv(cfg)
    if not argv:
        raise EngineError(
            "the photostyle engine was not found: install photostyle and run `photostyle gimp install`, "
            "or start `photostyle serve` before using the filter."
        )
    with tempfile.TemporaryDirectory(prefix="photostyle-gimp-") as tmp:
        req, res = os.path.join(tmp, "request.bin"), os.path.join(tmp, "response.bin")
        with open(req, "wb") as f:
            f.write(request)
        try:
            proc = subprocess.Popen(
                [*argv, "serve", "--once", req, res],
                stdin=subprocess.PIPE,  # closed when this plug-in dies: the engine then stops
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                **_popen_kwargs(),
            )
        except OSError as exc:
            raise EngineError(
                f"cannot run the photostyle engine {argv[0]} ({exc}); reinstall with `photostyle gimp install`."
            ) from exc
        for line in proc.stdout:
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if progress and "progress" in msg:
                    progress(float(msg["progress"]), str(msg.get("message", "")))
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stdin.close()
        proc.wait()
        if not os.path.exists(res):
            tail = err.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            raise EngineError(f"the photostyle engine failed: {tail[0]}")
        with open(res, "rb") as f:
            return _result(*unpack(f.read()))


def run_engine(cfg, request, progress=None):
    """Send REQUEST to the running service, starting it if needed, else through a one-shot subprocess."""
    info = find_service(cfg)
    if info is None:
        if progress:
            progress(0.0, "starting the photostyle engine")
        info = start_service(cfg)
    if info is not None:
        return transfer_via_service(info, request, progress)
    return transfer_once(cfg, request, progress)


# ------------------------------------------------------------------------------------------------ pixel helpers
def split_alpha(data, bpc):
    """Interleaved RGBA bytes (BPC bytes per channel) -> (RGB bytes, RGBA bytearray to write back into)."""
    n = len(data) // (4 * bpc)
    rgb = bytearray(n * 3 * bpc)
    for k in range(3 * bpc):
        rgb[k :: 3 * bpc] = data[k :: 4 * bpc]
    return bytes(rgb), bytearray(data)


def merge_alpha(rgba, rgb, bpc):
    for k in range(3 * bpc):
        rgba[k :: 4 * bpc] = rgb[k :: 3 * bpc]
    return bytes(rgba)


def settings_dict(quality, preserve_color, strength, extra_json="", skin=None):
    """The full settings the plug-in sends; new engine settings flow through EXTRA_JSON (a JSON object)."""
    s = {"quality": quality, "preserve_color": preserve_color, "strength": float(strength)}
    if skin is not None:
        s["skin"] = skin
    if extra_json and extra_json.strip():
        try:
            extra = json.loads(extra_json)
        except ValueError as exc:
            raise EngineError(f"advanced settings are not valid JSON ({exc}).") from exc
        if not isinstance(extra, dict):
            raise EngineError('advanced settings must be a JSON object, e.g. {"iterations": [30, 8, 40]}.')
        s.update(extra)
    return s


# ------------------------------------------------------------------------------------------------ GIMP
def main():
    import gi

    gi.require_version("Gimp", "3.0")
    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gegl", "0.4")
    from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject

    def choice(items):
        c = Gimp.Choice.new()
        for i, (nick, label) in enumerate(items):
            c.add(nick, i, label, "")
        return c

    def pixel_format(image, drawable):
        """(dtype, babl format name without alpha, bytes per channel) for moving pixels without losing precision.

        The names are sRGB formats: babl converts from and to the image's own colour profile on the way, so the
        engine sees colour-managed sRGB, like the reference, and the result lands back in the image's space.
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

    def error(procedure, message, status=None):
        return procedure.new_return_values(status or Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))

    def run(procedure, run_mode, image, drawables, config, data):
        if run_mode == Gimp.RunMode.INTERACTIVE:
            GimpUi.init("photostyle")
            dialog = GimpUi.ProcedureDialog.new(procedure, config, "Photo Style: Transfer Look")
            dialog.get_spin_scale("strength", 100.0)  # a slider, shown as 0-100 %
            dialog.fill(["reference", "quality", "preserve-color", "strength", "skin", "masks"])
            ok = dialog.run()
            dialog.destroy()
            if not ok:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        if len(drawables) != 1:
            return error(
                procedure, "Photo Style works on one layer: select exactly one layer.", Gimp.PDBStatusType.CALLING_ERROR
            )
        drawable = drawables[0]
        if not isinstance(drawable, Gimp.Layer) or drawable.is_group_layer():
            return error(
                procedure,
                "Photo Style works on a pixel layer: select a layer (not a group, channel or mask).",
                Gimp.PDBStatusType.CALLING_ERROR,
            )
        ref_file = config.get_property("reference")
        ref_path = ref_file.get_path() if ref_file is not None else None
        if not ref_path:
            return error(procedure, "Choose a reference photo: the look to transfer.", Gimp.PDBStatusType.CALLING_ERROR)
        masks = config.get_property("masks")
        try:
            settings = settings_dict(
                config.get_property("quality"),
                config.get_property("preserve-color"),
                config.get_property("strength"),
                config.get_property("settings-json"),
                config.get_property("skin"),
            )
        except EngineError as exc:
            return error(procedure, str(exc), Gimp.PDBStatusType.CALLING_ERROR)
        has_sel = not Gimp.Selection.is_empty(image)
        if masks == "selection" and not has_sel:
            return error(
                procedure,
                "Masks 'Selection is the target object' needs a selection: select the object "
                "first, or choose another Masks setting.",
                Gimp.PDBStatusType.CALLING_ERROR,
            )
        touches, _, _, _, _ = drawable.mask_intersect()
        if not touches:
            return error(
                procedure,
                "The selection does not touch this layer: nothing to change.",
                Gimp.PDBStatusType.CALLING_ERROR,
            )
        try:
            return apply(procedure, image, drawable, ref_path, settings, masks)
        except EngineError as exc:
            return error(procedure, f"Photo Style: {exc}")
        except Exception as exc:  # noqa: BLE001 - one clear message in GIMP rather than a crashed plug-in
            return error(procedure, f"Photo Style failed unexpectedly: {type(exc).__name__}: {exc}")

    def apply(procedure, image, drawable, ref_path, settings, masks):
        Gegl.init(None)
        w, h = drawable.get_width(), drawable.get_height()
        dtype, fmt, bpc = pixel_format(image, drawable)
        rect = Gegl.Rectangle.new(0, 0, w, h)
        alpha = drawable.has_alpha()
        src = drawable.get_buffer().get(
            rect, 1.0, fmt.replace("'B' ", "'B'A ") if alpha else fmt, Gegl.AbyssPolicy.CLAMP
        )
        rgba = None
        if alpha:
            rgb, rgba = split_alpha(src, bpc)
        else:
            rgb = src
        mask = None
        if masks == "selection":
            _, ox, oy = drawable.get_offsets()
            sel = image.get_selection().get_buffer()
            mask = sel.get(Gegl.Rectangle.new(ox, oy, w, h), 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
        request = make_request(rgb, w, h, dtype, ref_path, settings, masks, mask)

        Gimp.progress_init("Photo Style: transferring the look of " + os.path.basename(ref_path))

        def progress(fraction, message):
            Gimp.progress_update(max(0.0, min(1.0, fraction)))
            if message:
                Gimp.progress_set_text("Photo Style: " + message)

        header, out = run_engine(load_config(), request, progress)
        if (header.get("width"), header.get("height"), header.get("dtype")) != (w, h, dtype):
            raise EngineError("the engine returned an image of another size or type; update photostyle.")
        Gimp.progress_set_text("Photo Style: adding the layer")

        Gimp.context_push()
        image.undo_group_start()
        try:
            layer = drawable.copy()
            image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
            layer.set_name(os.path.splitext(os.path.basename(ref_path))[0] + " look")
            shadow = layer.get_shadow_buffer()
            shadow.set(
                rect, fmt.replace("'B' ", "'B'A ") if alpha else fmt, merge_alpha(rgba, out, bpc) if alpha else out
            )
            shadow.flush()
            layer.merge_shadow(True)  # blends through the selection, with its feathering
            layer.update(0, 0, w, h)
            image.set_selected_layers([layer])
        finally:
            image.undo_group_end()
            Gimp.context_pop()
        Gimp.progress_end()
        for note in header.get("warnings", []):
            Gimp.message("Photo Style: " + note)
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())

    class PhotoStyle(Gimp.PlugIn):
        def do_query_procedures(self):
            return [PROC_NAME]

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
                "Photorealistic look transfer (Deep Photo Style Transfer) by the photostyle engine. The result is "
                "a new layer above the active one; with a selection, only the selected pixels change.",
                name,
            )
            proc.set_attribution("photostyle", "photostyle (MIT)", "2025")
            rw = GObject.ParamFlags.READWRITE
            proc.add_file_argument(
                "reference",
                "_Reference photo",
                "The photo whose look to transfer",
                Gimp.FileChooserAction.OPEN,
                False,
                None,
                rw,
            )
            proc.add_choice_argument(
                "quality", "_Quality", "Preview takes seconds, best minutes", choice(QUALITIES), "best", rw
            )
            proc.add_choice_argument(
                "preserve-color", "_Preserve colours", "Keep the photo's own colours", choice(PRESERVE), "none", rw
            )
            proc.add_double_argument("strength", "_Strength", "0: the photo, 1: the full look", 0.0, 1.0, 1.0, rw)
            proc.add_choice_argument(
                "skin", "S_kin", "Keep skin on the skin-tone line where a person is found", choice(SKIN), "protect", rw
            )
            proc.add_choice_argument(
                "masks", "_Masks", "Which regions take their look from which", choice(MASKS), "auto", rw
            )
            proc.add_string_argument(
                "settings-json",
                "Advanced settings (JSON)",
                'More engine settings as a JSON object, e.g. {"iterations": [30, 8, 40]}',
                "",
                rw,
            )
            return proc

    Gimp.main(PhotoStyle.__gtype__, sys.argv)


if __name__ == "__main__":
    main()
