"""Photo Style for GIMP 3: the engine client (standard library only; no GIMP, no torch).

The settings words, the wire format, reaching the ``photostyle serve`` service (starting it when it does not run,
falling back to a one-shot ``photostyle serve --once`` process), progress in a photographer's words with the time
left, the result layer's name, the checks the dialog shows, and the remembered choices. ``photostyle.py`` (the
plug-in GIMP runs) imports it; the tests import it without GIMP.
"""

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

PROC_NAME = "plug-in-photostyle-transfer"
HELP_DOMAIN = "photostyle"
PROTOCOL = 1
START_TIMEOUT_S = 120.0  # a cold start imports torch and loads the model
CONFIG_NAME = "photostyle.json"
CHOICES_NAME = "photostyle-last.json"  # the dialog's last choices, in GIMP's profile folder
# (nick, label, what it does): the nicks are the engine's values, the labels and sentences a photographer's
QUALITIES = (
    ("preview", "Preview (seconds)", "A fast colour-statistics look: judge the look with it."),
    ("best", "Best (minutes)", "The full neural look, with texture and local contrast: the deliberate second step."),
)
PRESERVE = (
    ("none", "Off: take the reference's colours", "The photo takes the reference's colours and tones."),
    ("luminance", "Luminance only", "Only brightness and contrast change: the photo keeps its own colours."),
    ("histogram", "Histogram", "Colours are matched to the reference's overall colour spread, without the texture."),
)
SKIN = (
    ("protect", "Protect skin tones", "Faces and skin keep natural skin colours when the look would tint them."),
    ("free", "Free: skin takes the look too", "Skin is styled like everything else."),
)
MASKS = (
    ("auto", "Automatic regions", "Sky takes the reference's sky, people its people, the rest its rest."),
    ("none", "One look for the whole image", "Every part of the photo takes the whole reference's look."),
    ("selection", "Selected object vs the rest", "The selection and the rest are styled separately."),
)
REFERENCE_FROM = (
    ("file", "A photo file", "A photo on disk (any format GIMP opens)."),
    ("layer", "An image open in GIMP", "A layer of an image that is open in GIMP."),
)
# what a result layer's name leaves out: the dialog's defaults
DEFAULTS = {"quality": "preview", "preserve": "none", "strength": 1.0, "skin": "protect", "masks": "auto"}
# reference files the engine decodes itself (as the CLI does, with EXIF orientation and colour profiles); GIMP
# decodes every other format it opens and the pixels travel instead
ENGINE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"} | {
    ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw", ".nrw", ".raw"
}  # fmt: skip


class EngineError(Exception):
    """A problem to show the user in one message."""


class Stopped(Exception):
    """The job was stopped on purpose (the image was closed, the user cancelled): end quietly."""


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
        raise EngineError("The photostyle engine gave an answer this plug-in does not understand: update photostyle.")
    header = json.loads(data[:nl])
    blobs, pos = {}, nl + 1
    for name, size in header.get("blobs", []):
        blobs[name] = data[pos : pos + size]
        pos += size
    return header, blobs


class Pixels:
    """Interleaved RGB pixels of DTYPE ('u8', 'u16' or 'f32', native byte order) and a name (a reference that GIMP
    decoded, or a layer of an open image)."""

    def __init__(self, data, width, height, dtype, name):
        self.data, self.width, self.height, self.dtype, self.name = bytes(data), width, height, dtype, name

    def spec(self):
        return {"width": self.width, "height": self.height, "dtype": self.dtype, "byteorder": sys.byteorder}


def make_request(photo, width, height, dtype, reference, settings, masks="none", mask=None, task="transfer"):
    """The request bytes: PHOTO is interleaved RGB of DTYPE ('u8', 'u16' or 'f32', native byte order); REFERENCE
    a file path (its bytes travel) or Pixels; TASK 'transfer' or 'regions' (the automatic regions to look at)."""
    header = {
        "protocol": PROTOCOL,
        "photo": {"width": width, "height": height, "dtype": dtype, "byteorder": sys.byteorder},
        "settings": settings,
        "masks": masks,
    }
    if task != "transfer":
        header["task"] = task
    if isinstance(reference, Pixels):
        header["reference_name"] = reference.name + ".png"
        header["reference_image"] = reference.spec()
        ref = reference.data
    else:
        header["reference_name"] = os.path.basename(reference)
        try:
            with open(reference, "rb") as f:
                ref = f.read()
        except OSError as exc:
            raise EngineError(
                f"The reference photo {os.path.basename(reference)} cannot be read: choose it again or pick another."
            ) from exc
    blobs = [("photo", bytes(photo)), ("reference", ref)]
    if mask is not None:
        header["mask"] = {"width": width, "height": height}
        blobs.append(("mask", bytes(mask)))
    return pack(header, blobs)


def _result(header, blobs):
    if not header.get("ok"):
        raise EngineError(plain(header.get("error") or "the photostyle engine failed without a message."))
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
            raise EngineError(plain(msg) if msg else "The photostyle engine refused the request: update photostyle.")
        while True:
            line = resp.readline()
            if not line:
                raise EngineError("the photostyle service closed the connection before the result.")
            msg = json.loads(line)
            if "progress" in msg:
                if progress:
                    progress(float(msg["progress"]), str(msg.get("message", "")))  # may raise Stopped
                continue
            rest = resp.read()
            return _result(*unpack(line + rest))
    except (OSError, http.client.HTTPException) as exc:
        raise EngineError(LOST) from exc
    finally:
        conn.close()  # after Stopped too: the service sees the client leave and stops the job


def transfer_once(cfg, request, progress=None):
    """The fallback: one ``photostyle serve --once`` subprocess for this request."""
    argv = _engine_argv(cfg)
    if not argv:
        raise EngineError(
            "The photostyle engine was not found. Install photostyle and run `photostyle gimp install`, "
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
            raise EngineError(NOT_STARTED) from exc
        try:
            for line in proc.stdout:
                with contextlib.suppress(ValueError):
                    msg = json.loads(line)
                    if progress and "progress" in msg:
                        progress(float(msg["progress"]), str(msg.get("message", "")))  # may raise Stopped
        except BaseException:
            proc.stdin.close()  # the engine stops when its stdin closes
            proc.kill()
            proc.wait()
            raise
        proc.stderr.read()
        proc.stdin.close()
        proc.wait()
        if not os.path.exists(res):
            raise EngineError(NOT_STARTED)
        with open(res, "rb") as f:
            return _result(*unpack(f.read()))


LOST = (
    "The photostyle engine stopped answering. Try again; if it happens again, run `photostyle serve` in a terminal "
    "to see why."
)
NOT_STARTED = (
    "The photostyle engine could not be started. Reinstall the plug-in with `photostyle gimp install`, or run "
    "`photostyle serve` in a terminal to see why."
)


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


def settings_dict(quality, preserve_color, strength, extra_json="", skin=None, region_strength=None):
    """The full settings the plug-in sends; new engine settings flow through EXTRA_JSON (a JSON object).
    REGION_STRENGTH: {region id: strength} for the automatic regions the dialog showed."""
    s = {"quality": quality, "preserve_color": preserve_color, "strength": float(strength)}
    if skin is not None:
        s["skin"] = skin
    if region_strength:
        s["region_strength"] = [
            [int(k), float(v)] for k, v in sorted(region_strength.items(), key=lambda kv: int(kv[0]))
        ]
    if extra_json and extra_json.strip():
        try:
            extra = json.loads(extra_json)
        except ValueError as exc:
            raise EngineError(
                f"Advanced settings are not valid JSON ({exc.msg}): fix them or clear the field."
            ) from exc
        if not isinstance(extra, dict):
            raise EngineError('advanced settings must be a JSON object, e.g. {"iterations": [30, 8, 40]}.')
        s.update(extra)
    return s


def parse_region_strength(text):
    """The dialog's per-region strengths ({"3": 0.5} as JSON text) as {id: strength}; {} when empty."""
    if not text or not text.strip():
        return {}
    try:
        d = json.loads(text)
        return {int(k): min(1.0, max(0.0, float(v))) for k, v in dict(d).items()}
    except (ValueError, TypeError) as exc:
        raise EngineError('Region strengths must look like {"3": 0.5} (region id: 0 to 1).') from exc


# ------------------------------------------------------------------------------------------------ words
_PATHISH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/:;,'\"()]+){2,}[\\/]?")
_ERRNO = re.compile(r"\s*\(?\[Errno \d+\][^)]*\)?|\s*\(errno \d+\)", re.IGNORECASE)


def plain(message):
    """An engine message for a photographer: no folders, no errno, a capital letter and a full stop."""
    msg = _ERRNO.sub("", str(message))
    msg = _PATHISH.sub(lambda m: os.path.basename(m.group(0).rstrip("\\/")), msg).strip()
    if msg[:8].lower() == "request:":
        msg = msg[8:].strip()
    if msg.split(" ", 1)[0].isalpha():  # a word, not a file name
        msg = msg[:1].upper() + msg[1:]
    return msg if msg.endswith((".", "!", "?")) else msg + "."


_SCALE = re.compile(r"scale (\d+)/(\d+)")
STAGES = (
    ("starting the photostyle engine", "Starting the photostyle engine (the first time takes a while)"),
    ("waiting for another", "Waiting for another photo to finish"),
    ("loading the style model", "Loading the style model (once per session)"),
    ("finding regions", "Finding the regions (sky, people, the rest)"),
    ("looking for skin", "Looking for skin to protect"),
    ("protecting skin", "Protecting skin tones"),
    ("done", "Finishing"),
    ("starting", "Starting"),
)


def stage_words(message):
    """An engine progress message in a photographer's words ('scale 2/3 (512 px): optimising at ...' ->
    'Painting the look, pass 2 of 3')."""
    m = _SCALE.match(message or "")
    if m:
        return f"Painting the look, pass {m.group(1)} of {m.group(2)}"
    low = (message or "").lower()
    for key, words in STAGES:
        if low.startswith(key):
            return words
    return (message[:1].upper() + message[1:]) if message else "Working"


class Progress:
    """The progress line: the stage in words and, once it can be told, the time left ('about 40 s left')."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.t0 = clock()
        self.first = None  # (time, fraction) when the work proper began

    def line(self, fraction, message):
        now = self.clock()
        if self.first is None and fraction > 0.0:
            self.first = (now, fraction)
        text = stage_words(message)
        left = self.seconds_left(fraction, now)
        return f"{text}, {left}" if left else text

    def seconds_left(self, fraction, now):
        if self.first is None or fraction >= 1.0:
            return ""
        t1, f1 = self.first
        if fraction - f1 < 0.05 or now - t1 < 2.0:
            return ""
        s = (now - t1) * (1.0 - fraction) / (fraction - f1)
        return f"about {round(s / 5) * 5 or 5:.0f} s left" if s < 90 else f"about {round(s / 60):.0f} min left"


def layer_name(reference_name, quality, preserve, strength, skin, masks, region_strength=None):
    """The result layer's name: the reference and the settings that differ from the dialog's defaults, e.g.
    'sunset look, best, 60 %, luminance'."""
    parts = [f"{reference_name} look"]
    if quality != DEFAULTS["quality"]:
        parts.append(quality)
    if round(float(strength) * 100) != 100:
        parts.append(f"{round(float(strength) * 100)} %")
    if preserve != DEFAULTS["preserve"]:
        parts.append(preserve)
    if skin != DEFAULTS["skin"]:
        parts.append("skin free")
    if masks != DEFAULTS["masks"]:
        parts.append({"none": "one look", "selection": "object"}.get(masks, masks))
    if region_strength:
        parts.append("per-region strength")
    return ", ".join(parts)


def reference_file_problem(path, gimp_opens=None):
    """Why the reference file cannot be used (a sentence saying what to do), or ''. GIMP_OPENS: a callable that
    tells whether GIMP decodes PATH (for the formats the engine does not read itself)."""
    if not path:
        return "Choose a reference photo: the photo whose look you want."
    name = os.path.basename(path)
    if not os.path.exists(path):
        return f"The reference photo {name} is no longer there: choose it again or pick another."
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        return f"{name} cannot be read: choose another photo."
    if os.path.splitext(path)[1].lower() not in ENGINE_SUFFIXES and gimp_opens is not None and not gimp_opens(path):
        return f"GIMP cannot open {name} as an image: choose a photo (JPEG, PNG, TIFF, WebP ...)."
    return ""


# ------------------------------------------------------------------------------------------------ remembered choices
CHOICE_KEYS = ("reference-from", "reference", "quality", "preserve-color", "strength", "skin", "masks", "settings-json")
CANVAS_KEYS = ("canvas-preview", "show-regions")  # the dialog's own toggles, remembered with the choices


def load_choices(path):
    """The dialog's last choices ({} when there are none)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in d.items() if k in CHOICE_KEYS + CANVAS_KEYS} if isinstance(d, dict) else {}


def save_choices(path, choices):
    """Remember the dialog's choices (whatever happens to the run); silently skipped when the folder is read-only."""
    with contextlib.suppress(OSError):
        tmp = path + ".part"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({k: v for k, v in choices.items() if k in CHOICE_KEYS + CANVAS_KEYS}, f, indent=1)
        os.replace(tmp, path)
