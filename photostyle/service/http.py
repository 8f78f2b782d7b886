"""The HTTP service on 127.0.0.1: the server, the request handler and its progress stream, the serve loop, and the
one-shot mode (``photostyle serve --once``) that the plug-in falls back to when no service can run."""

from __future__ import annotations

import contextlib
import hmac
import http.server
import ipaddress
import json
import os
import queue
import secrets
import select
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from photostyle import __version__
from photostyle.errors import InputError, OutputError, PhotostyleError
from photostyle.imageio.atomic import write_private
from photostyle.service.jobs import Engine, Job, prepare, run_job
from photostyle.service.paths import pid_alive, read_service_file, service_file
from photostyle.service.protocol import (
    MAX_PHOTO_PIXELS,
    MAX_REQUEST_BYTES,
    PROTOCOL,
    Cancelled,
    error_body,
    pack,
    unpack,
)

HEARTBEAT_S = 0.5
# A connection gets a worker thread only once its request has begun to arrive; at most WORKERS at a time (a job
# runs one at a time anyway). Idle connections wait in one selector, without a thread, and are closed after
# CLIENT_TIMEOUT_S; a client that stalls for that long while sending is answered 408 and dropped, and a body must
# arrive at MIN_BODY_RATE bytes/s at least.
WORKERS = 16
MAX_WAITING = 512
CLIENT_TIMEOUT_S = 10.0
MIN_BODY_RATE = 1 << 20


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def __init__(
        self, port: int, token: str, engine: Engine, *, client_timeout: float = CLIENT_TIMEOUT_S, workers: int = WORKERS
    ) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.token = token
        self.engine = engine
        self.stopping = threading.Event()  # set by POST /v1/shutdown
        self.client_timeout = client_timeout
        self.slots = threading.BoundedSemaphore(workers)
        self.arrivals: queue.SimpleQueue[tuple[socket.socket, tuple[str, int]]] = queue.SimpleQueue()
        self.closed = threading.Event()
        threading.Thread(target=self._wait_loop, name="photostyle-accept", daemon=True).start()

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        self.arrivals.put((request, client_address))  # no thread until it sends something

    def _wait_loop(self) -> None:
        """Hand each connection to a worker once it is readable; close the ones idle for client_timeout."""
        sel = selectors.DefaultSelector()
        since: dict[socket.socket, float] = {}
        while not self.closed.is_set():
            while not self.arrivals.empty():
                conn, addr = self.arrivals.get()
                sel.register(conn, selectors.EVENT_READ, addr)
                since[conn] = time.monotonic()
            for key, _ in sel.select(0.1):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                sel.unregister(ready)
                del since[ready]
                self._dispatch(ready, key.data)
            now = time.monotonic()
            oldest = sorted(since, key=since.__getitem__)
            for i, conn in enumerate(oldest):
                if now - since[conn] > self.client_timeout or i < len(oldest) - MAX_WAITING:
                    sel.unregister(conn)
                    del since[conn]
                    self.shutdown_request(conn)
        for conn in since:
            self.shutdown_request(conn)
        sel.close()

    def _dispatch(self, conn: socket.socket, addr: tuple[str, int]) -> None:
        if not self.slots.acquire(blocking=False):
            body = json.dumps({"ok": False, "error": "the service is busy with other clients; retry.", "type": "Busy"})
            with contextlib.suppress(OSError):
                conn.settimeout(1.0)
                conn.sendall(
                    f"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
                )
            self.shutdown_request(conn)
            return
        threading.Thread(target=self._work, args=(conn, addr), name="photostyle-request", daemon=True).start()

    def _work(self, conn: socket.socket, addr: tuple[str, int]) -> None:
        try:
            self.process_request_thread(conn, addr)
        finally:
            self.slots.release()

    def server_close(self) -> None:
        self.closed.set()
        super().server_close()


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.0"
    server_version = f"photostyle/{__version__}"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.client_timeout)  # stalled clients time out

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, headers too long) as JSON too."""
        self.request_version = self.protocol_version  # an unparsed request line would get no status line
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._error(code, f"bad request: {message or 'malformed'}.", "BadRequest")

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
            self._error(411, "a Content-Length header (a number of bytes) is needed.", "LengthRequired")
            return
        if length < 0:
            self._error(400, f"request: Content-Length {length} is negative.", "InputError")
            return
        if length > MAX_REQUEST_BYTES:
            self._error(
                413,
                f"request of {length} bytes is over the {MAX_REQUEST_BYTES} byte limit, what the largest supported "
                f"photo needs ({MAX_PHOTO_PIXELS // 1_000_000} megapixels as 32-bit float RGB with its selection "
                "mask and reference). Send a smaller image or 8/16-bit pixels.",
                "TooLarge",
            )
            return
        body = self._read_body(length)
        if body is None:
            return
        try:
            header, blobs = unpack(body)
            del body
            job = prepare(header, blobs, self.server.engine.defaults)
        except PhotostyleError as exc:
            self._json(400, error_body(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a malformed request the checks above missed is still answered
            self._error(400, f"request: malformed ({type(exc).__name__}).", "InputError")
            return
        self._stream(job)

    def _read_body(self, length: int) -> bytes | None:
        """The body, or None (answered 408) when the client stalls or sends slower than MIN_BODY_RATE."""
        deadline = time.monotonic() + self.server.client_timeout + length / MIN_BODY_RATE
        chunks, got = [], 0
        try:
            while got < length:
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunk = self.rfile.read1(min(length - got, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except (TimeoutError, OSError):
            with contextlib.suppress(OSError):
                self._error(408, f"request: the body did not arrive in time ({got} of {length} bytes).", "Timeout")
            self.close_connection = True
            return None
        return b"".join(chunks)

    # -------------------------------------------------------------------------------------------- the stream
    def _client_gone(self) -> bool:
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            return bool(r) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stream(self, job: Job) -> None:
        cancel = threading.Event()
        # what the client sees until the job reports: honest about why nothing moves yet
        waiting = "waiting for another photo to finish" if self.server.engine.busy else "starting"
        state: dict[str, Any] = {"fraction": 0.0, "message": waiting}
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
    client_timeout: float = CLIENT_TIMEOUT_S,
    workers: int = WORKERS,
) -> Iterator[tuple[Server, dict[str, Any]]]:
    """Start the service in this process (serving on a thread); yields the server and its service-file dict."""
    path = path or service_file()
    engine = Engine(defaults or {}, preload=preload)
    srv = Server(port, secrets.token_urlsafe(32), engine, client_timeout=client_timeout, workers=workers)
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
    if not info or not pid_alive(int(info.get("pid", 0))):
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


# ------------------------------------------------------------------------------------------------ the serve loop
def serve(
    *,
    port: int = 0,
    path: Path | None = None,
    defaults: dict[str, Any] | None = None,
    preload: bool = True,
    idle_exit: float = 0.0,
) -> int:
    """Serve until SIGTERM/SIGHUP, Ctrl-C, POST /v1/shutdown or IDLE_EXIT idle seconds; 0 (also when another
    service already answers at PATH)."""
    path = path or service_file()
    defaults = defaults or {}
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
        with running_service(port=port, path=path, defaults=defaults, preload=preload) as (srv, info):
            print(f"photostyle service at {info['url']} (pid {info['pid']}); token in {path}", file=sys.stderr)
            sys.stderr.flush()
            while not stop.wait(1.0):
                if not srv.engine.busy and idle_exit and time.monotonic() - srv.engine.last_active > idle_exit:
                    print(f"photostyle service: idle for {idle_exit:.0f} s, stopping.", file=sys.stderr)
                    break
                if srv.stopping.is_set():
                    break
    except OSError as exc:
        raise PhotostyleError(f"cannot start the service on 127.0.0.1:{port} ({exc}); try another --port.") from exc
    except KeyboardInterrupt:
        pass
    print("photostyle service stopped.", file=sys.stderr)
    return 0
