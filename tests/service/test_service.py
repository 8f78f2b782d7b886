"""``photostyle serve``: a real service process on loopback, spoken to over HTTP as the GIMP plug-in does."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.imageio import read_image, to_uint
from photostyle.pipeline import transfer
from photostyle.regions.labels import RegionPairs
from photostyle.service import build_settings, pack, unpack
from photostyle.service.http import is_loopback

from ..conftest import small

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
TINY_BEST = {"quality": "best", "scales": [64], "iterations": [3], "threads": 1}


def start_service(service_file: Path, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "photostyle", "serve", "--service-file", str(service_file), "--threads", "1", *extra],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    t_end = time.monotonic() + 120
    while time.monotonic() < t_end:
        if service_file.exists():
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"service exited: {proc.stdout.read().decode() if proc.stdout else ''}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("service did not start in 120 s")


def stop_service(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode() if out else ""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("svc")
    path = d / "state" / "service.json"
    proc = start_service(path)
    info = json.loads(path.read_text())
    yield {"info": info, "path": path, "proc": proc, "dir": d}
    stop_service(proc)  # SIGTERM: a clean stop that takes the service file with it
    assert proc.returncode == 0 and not path.exists()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("pair")
    photo = to_uint(small("chelsea.png", 96), 8)
    ref_path = d / "coffee.png"
    Image.fromarray(to_uint(small("coffee.png", 80), 8)).save(ref_path)
    return {"photo": photo, "ref_path": ref_path, "ref_bytes": ref_path.read_bytes()}


def request_bytes(pair: dict, settings: dict, *, dtype: str = "u8", masks: str = "none", mask=None) -> bytes:
    photo = pair["photo"]
    h, w = photo.shape[:2]
    if dtype == "u16":
        data = (photo.astype(np.uint16) * 257).astype("<u2").tobytes()
    else:
        data = photo.tobytes()
    header = {
        "protocol": 1,
        "photo": {"width": w, "height": h, "dtype": dtype, "byteorder": "little"},
        "reference_name": "coffee.png",
        "settings": settings,
        "masks": masks,
    }
    blobs = [("photo", data), ("reference", pair["ref_bytes"])]
    if mask is not None:
        header["mask"] = {"width": w, "height": h}
        blobs.append(("mask", mask.astype(np.uint8).tobytes()))
    return pack(header, blobs)


def call(info: dict, method: str, path: str, body: bytes | None = None, token: str | None = "ok", **headers: str):
    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=300)
    h = dict(headers)
    if token == "ok":
        h["Authorization"] = f"Bearer {info['token']}"
    elif token is not None:
        h["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def post_transfer(info: dict, body: bytes) -> tuple[dict, bytes, list[dict]]:
    """POST /v1/transfer and split the stream: (final header, image bytes, progress lines)."""
    status, data = call(info, "POST", "/v1/transfer", body)
    assert status == 200, data
    lines = []
    while True:
        nl = data.index(b"\n")
        msg = json.loads(data[:nl])
        if "progress" not in msg:
            header, blobs = unpack(data)
            return header, blobs.get("image", b""), lines
        lines.append(msg)
        data = data[nl + 1 :]


def test_service_file_is_private_and_names_a_loopback_port(service) -> None:
    path, info = service["path"], service["info"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert info["url"] == f"http://127.0.0.1:{info['port']}"
    assert len(info["token"]) >= 32 and info["pid"] == service["proc"].pid


def test_requests_without_the_right_token_are_refused(service) -> None:
    info = service["info"]
    for token in (None, "wrong", info["token"][:-1]):
        status, data = call(info, "GET", "/v1/status", token=token)
        assert status == 401
        body = json.loads(data)
        assert body["ok"] is False and "token" in body["error"]
    status, data = call(info, "POST", "/v1/transfer", b"x\n", token="wrong")
    assert status == 401
    status, data = call(info, "GET", "/v1/status")
    assert status == 200 and json.loads(data)["service"] == "photostyle"


def test_web_pages_and_other_hosts_are_refused(service) -> None:
    info = service["info"]
    status, data = call(info, "GET", "/v1/status", Origin="http://evil.example")
    assert status == 403 and "web pages" in json.loads(data)["error"]
    # the socket is bound to 127.0.0.1 only: this machine's other addresses do not reach it
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent; this picks the outgoing interface
        own_ip = probe.getsockname()[0]
    except OSError:
        own_ip = "127.0.0.1"
    finally:
        probe.close()
    if is_loopback(own_ip):
        pytest.skip("this machine has no address outside loopback to try")
    with pytest.raises(OSError), socket.create_connection((own_ip, info["port"]), timeout=3):
        pass
    # a peer whose address is not loopback is refused by the handler, too (source address bound to own_ip)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((own_ip, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", info["port"]))
        except OSError:
            return  # the kernel refuses non-loopback sources on lo: nothing reaches the handler at all
        s.sendall(f"GET /v1/status HTTP/1.0\r\nAuthorization: Bearer {info['token']}\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    finally:
        s.close()
    assert reply.startswith(b"HTTP/1.0 403"), reply[:200]


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.3.2.1") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.2") and not is_loopback("192.168.1.5") and not is_loopback("::ffff:8.8.8.8")
    assert not is_loopback("localhost.evil") and not is_loopback("")


def test_two_requests_one_model_load_and_library_result(service, pair) -> None:
    info = service["info"]
    body = request_bytes(pair, TINY_BEST)
    t0 = time.perf_counter()
    h1, img1, lines = post_transfer(info, body)
    t1 = time.perf_counter() - t0
    h2, img2, _ = post_transfer(info, body)
    assert h1["ok"] and h2["ok"], (h1, h2)
    assert lines and all(0.0 <= m["progress"] <= 1.0 for m in lines)
    status = json.loads(call(info, "GET", "/v1/status")[1])
    assert status["model_loads"] == 1 and status["jobs"] >= 2 and status["pid"] == service["proc"].pid
    assert h2["model_seconds"] < 0.05, h2  # the second request found the model loaded
    assert h2["seconds"] < t1
    h, w = pair["photo"].shape[:2]
    a1 = np.frombuffer(img1, np.uint8).reshape(h, w, 3)
    a2 = np.frombuffer(img2, np.uint8).reshape(h, w, 3)
    # the same request twice: the same image, up to the 8-bit rounding of a float-level difference (VGG in
    # bfloat16 on threads; one pixel by one level out of 18432 seen once)
    same = np.abs(a1.astype(int) - a2.astype(int))
    assert same.max() <= 1 and (same > 0).mean() < 1e-3, (same.max(), (same > 0).mean())
    lib = transfer(pair["photo"], read_image(pair["ref_path"]), settings=build_settings(TINY_BEST))
    diff = np.abs(a1.astype(int) - to_uint(lib.image, 8).astype(int))
    assert diff.max() <= 2, diff.max()
    assert np.abs(a1.astype(int) - pair["photo"].astype(int)).mean() > 5  # the look did change


def test_sixteen_bit_stays_sixteen_bit(service, pair) -> None:
    info = service["info"]
    header, img, _ = post_transfer(info, request_bytes(pair, {"quality": "preview"}, dtype="u16"))
    assert header["ok"] and header["dtype"] == "u16"
    h, w = pair["photo"].shape[:2]
    out = np.frombuffer(img, "<u2").reshape(h, w, 3)
    lib = transfer(pair["photo"], read_image(pair["ref_path"]), settings=build_settings({"quality": "preview"}))
    assert np.abs(out.astype(int) - to_uint(lib.image, 16).astype(int)).max() <= 2
    assert len(np.unique(out)) > 300  # real 16-bit values, not 8-bit ones scaled up
    assert np.any(out % 257 != 0)


def test_selection_as_target_region(service, pair) -> None:
    info = service["info"]
    h, w = pair["photo"].shape[:2]
    sel = np.zeros((h, w), np.uint8)
    sel[10:40, 20:60] = 255
    header, img, _ = post_transfer(info, request_bytes(pair, {"quality": "preview"}, masks="selection", mask=sel))
    assert header["ok"]
    out = np.frombuffer(img, np.uint8).reshape(h, w, 3)
    ref = read_image(pair["ref_path"])
    pairs = RegionPairs((sel >= 128).astype(np.int32), np.zeros(ref.pixels.shape[:2], np.int32), {0: 0, 1: 0})
    lib = transfer(pair["photo"], ref, masks=pairs, settings=build_settings({"quality": "preview"}))
    assert np.abs(out.astype(int) - to_uint(lib.image, 8).astype(int)).max() <= 1
    glob = transfer(pair["photo"], ref, settings=build_settings({"quality": "preview"}))
    assert np.abs(out.astype(int) - to_uint(glob.image, 8).astype(int))[sel > 0].mean() > 1  # not the global map


def test_automatic_masks_are_the_cli_s(service, pair) -> None:
    """masks='auto' runs the same automatic segmentation as `photostyle transfer --masks auto`."""
    from photostyle.regions import prepare_masks

    info = service["info"]
    h, w = pair["photo"].shape[:2]
    header, img, _ = post_transfer(info, request_bytes(pair, {"quality": "preview"}, masks="auto"))
    assert header["ok"], header
    out = np.frombuffer(img, np.uint8).reshape(h, w, 3)
    ref = read_image(pair["ref_path"])
    pairs, seg = prepare_masks(pair["photo"], ref, masks="auto")
    lib = transfer(pair["photo"], ref, masks=pairs, settings=build_settings({"quality": "preview"}))
    assert np.abs(out.astype(int) - to_uint(lib.image, 8).astype(int)).max() <= 1
    # how well the regions correspond goes back to the plug-in, which shows the warnings
    assert seg is not None and header["match_confidence"] == seg.match_confidence
    assert f"region match confidence {seg.match_confidence:.2f}" in header["warnings"][-1]


@pytest.mark.parametrize(
    ("mutate", "status", "kind", "words"),
    [
        (lambda b: b"not json\n" + b, 400, "InputError", "not valid JSON"),
        (lambda b: b[:-10], 400, "InputError", "ends before"),
        (lambda b: b + b"extra", 400, "InputError", "follow the blobs"),
    ],
)
def test_malformed_requests_get_clear_json_errors(service, pair, mutate, status, kind, words) -> None:
    code, data = call(service["info"], "POST", "/v1/transfer", mutate(request_bytes(pair, {"quality": "preview"})))
    body = json.loads(data)
    assert code == status and body["type"] == kind and words in body["error"], body


def _post_header(service, pair, *, photo=None, settings=None, ref=None, masks="none", mask=None, dtype="u8"):
    p = pair["photo"] if photo is None else photo
    h, w = p.shape[:2] if p.ndim >= 2 else (8, 8)
    header = {
        "photo": {"width": w, "height": h, "dtype": dtype},
        "reference_name": "coffee.png",
        "settings": settings or {"quality": "preview"},
        "masks": masks,
    }
    blobs = [("photo", p.tobytes()), ("reference", pair["ref_bytes"] if ref is None else ref)]
    if mask is not None:
        header["mask"] = {"width": w, "height": h}
        blobs.append(("mask", mask.tobytes()))
    code, data = call(service["info"], "POST", "/v1/transfer", pack(header, blobs))
    return code, json.loads(data)


def test_bad_input_is_named(service, pair) -> None:
    code, body = _post_header(service, pair, ref=b"\x89PNG\r\n\x1a\n but not really")
    assert code == 400 and body["type"] == "InputError"
    assert "coffee.png" in body["error"] and "cannot decode" in body["error"] and "/tmp" not in body["error"]
    code, body = _post_header(service, pair, ref=b"")
    assert code == 400 and "reference" in body["error"]
    code, body = _post_header(service, pair, photo=pair["photo"][:, :, :2].copy())
    assert code == 400 and "needs" in body["error"] and "bytes" in body["error"]
    code, body = _post_header(service, pair, photo=np.zeros((8, 8, 3), np.uint8))
    assert code == 400 and "at least 16" in body["error"]
    code, body = _post_header(service, pair, dtype="u12")
    assert code == 400 and "u12" in body["error"]
    code, body = _post_header(service, pair, masks="selection", mask=np.zeros(pair["photo"].shape[:2], np.uint8))
    assert code == 400 and "selection is empty" in body["error"]
    code, body = _post_header(service, pair, masks="faces")
    assert code == 400 and "masks must be one of" in body["error"]


def test_settings_errors_and_not_yet_supported_controls(service, pair) -> None:
    code, body = _post_header(service, pair, settings={"quality": "ultra"})
    assert code == 400 and body["type"] == "SettingsError" and "quality" in body["error"]
    code, body = _post_header(service, pair, settings={"quality": "preview", "scales": [8]})
    assert code == 400 and body["type"] == "SettingsError" and "at least 32" in body["error"]
    code, body = _post_header(service, pair, settings={"quality": "preview", "sharpness": 3})
    assert code == 400 and "sharpness" in body["error"]
    # the photographer's controls reach the engine's Settings ("off" is the dialog's word for "none")
    s = build_settings({"quality": "preview", "preserve_color": "off", "strength": 0.5, "scales": [100]})
    assert (s.quality, s.preserve_color, s.strength, s.scales) == ("preview", "none", 0.5, (100,))
    assert build_settings({"preserve_color": "luminance"}).preserve_color == "luminance"
    code, body = _post_header(service, pair, settings={"quality": "preview", "strength": 2})
    assert code == 400 and body["type"] == "SettingsError" and "strength" in body["error"]


def test_unknown_endpoint_is_json_404(service) -> None:
    code, data = call(service["info"], "GET", "/v2/whatever")
    assert code == 404 and json.loads(data)["ok"] is False


def test_client_leaving_cancels_the_job(service, pair) -> None:
    """GIMP's Cancel closes the plug-in: the service sees the connection drop and stops the transfer."""
    info = service["info"]
    jobs_before = json.loads(call(info, "GET", "/v1/status")[1])["jobs"]
    slow = {"quality": "best", "scales": [64, 96], "iterations": [15, 400], "threads": 1}
    body = request_bytes(pair, slow)
    s = socket.create_connection(("127.0.0.1", info["port"]), timeout=60)
    head = (
        f"POST /v1/transfer HTTP/1.0\r\nAuthorization: Bearer {info['token']}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    s.sendall(head + body)
    seen = b""
    while b"scale 1/2" not in seen:  # the first scale is running
        chunk = s.recv(4096)
        assert chunk, seen
        seen += chunk
    s.close()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        st = json.loads(call(info, "GET", "/v1/status")[1])
        if not st["busy"]:
            break
        time.sleep(0.2)
    stopped_after = time.monotonic() - t0
    assert not st["busy"] and st["jobs"] == jobs_before, st
    assert stopped_after < 30, stopped_after  # 400 evaluations at 96 px would take minutes on one thread


def _once(req: Path, res: Path, keep_stdin_open: bool) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "photostyle", "serve", "--once", str(req), str(res)],
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    if not keep_stdin_open:
        proc.stdin.close()  # the plug-in is gone: the job must stop
    out = proc.stdout.read().decode()
    if keep_stdin_open:
        proc.stdin.close()
    return proc.wait(timeout=300), out


def test_one_shot_mode(tmp_path, pair) -> None:
    """The plug-in's fallback: one subprocess per request, progress on stdout, stopped when its stdin closes."""
    req, res = tmp_path / "req.bin", tmp_path / "res.bin"
    req.write_bytes(request_bytes(pair, {"quality": "preview"}))
    code, out = _once(req, res, keep_stdin_open=True)
    header, blobs = unpack(res.read_bytes())
    assert code == 0 and header["ok"], header
    assert len(blobs["image"]) == pair["photo"].size
    assert any(json.loads(line)["progress"] == 1.0 for line in out.splitlines())
    code, _ = _once(req, res, keep_stdin_open=False)
    header, _ = unpack(res.read_bytes())
    assert code == 2 and header["type"] == "Cancelled", header
    req.write_bytes(b"garbage")
    code, _ = _once(req, res, keep_stdin_open=True)
    header, _ = unpack(res.read_bytes())
    assert code == 2 and header["ok"] is False and "header" in header["error"]


def test_second_service_defers_to_the_running_one_and_shutdown_cleans_up(tmp_path) -> None:
    path = tmp_path / "service.json"
    proc = start_service(path, "--no-preload")
    try:
        info = json.loads(path.read_text())
        r = subprocess.run(
            [sys.executable, "-m", "photostyle", "serve", "--service-file", str(path)],
            env=ENV,
            capture_output=True,
            timeout=120,
        )
        assert r.returncode == 0 and b"already running" in r.stderr
        assert json.loads(path.read_text())["token"] == info["token"]
        code, data = call(info, "POST", "/v1/shutdown")
        assert code == 200
        proc.wait(timeout=30)
        assert not path.exists()
    finally:
        stop_service(proc)
