"""The service under abuse (issue 13, items 11 and 12): idle connections beyond the bound, a slow body, an oversized
body, malformed requests, bad names and file paths in settings. A service in this process on loopback, with a short
client timeout; throughout, it keeps answering its status request within a second, and a tiny preview job."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from photostyle.imageio import to_uint
from photostyle.service import pack, unpack
from photostyle.service.http import Server, running_service
from photostyle.service.protocol import MAX_REQUEST_BYTES

from ..conftest import small

TIMEOUT = 2.0
WORKERS = 4


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict]]:
    path = tmp_path_factory.mktemp("abuse") / "service.json"
    with running_service(path=path, preload=False, client_timeout=TIMEOUT, workers=WORKERS) as (srv, info):
        yield srv, info


@pytest.fixture(scope="module")
def body(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return request(tmp_path_factory.mktemp("req"))


def request(d: Path, reference_name: str = "coffee.png", settings: dict | None = None) -> bytes:
    photo = to_uint(small("chelsea.png", 48), 8)
    Image.fromarray(to_uint(small("coffee.png", 40), 8)).save(d / "coffee.png")
    h, w = photo.shape[:2]
    header = {
        "protocol": 1,
        "photo": {"width": w, "height": h, "dtype": "u8"},
        "reference_name": reference_name,
        "settings": settings or {"quality": "preview", "scales": [48]},
        "masks": "none",
    }
    return pack(header, [("photo", photo.tobytes()), ("reference", (d / "coffee.png").read_bytes())])


def raw(info: dict, head: str, data: bytes = b"", *, token: bool = True, wait: float = 10.0) -> tuple[int, bytes]:
    """Send one request as bytes; (status, body) of the answer."""
    auth = f"Authorization: Bearer {info['token']}\r\n" if token else ""
    s = socket.create_connection(("127.0.0.1", info["port"]), timeout=wait)
    try:
        s.sendall(head.replace("\n", "\r\n").replace("AUTH\r\n", auth).encode() + b"\r\n" + data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    finally:
        s.close()
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, reply.split(b"\r\n\r\n", 1)[-1]


def post(info: dict, data: bytes, length: int | str | None = None) -> tuple[int, bytes]:
    n = len(data) if length is None else length
    return raw(info, f"POST /v1/transfer HTTP/1.0\nAUTH\nContent-Length: {n}\n", data)


def answers_quickly(info: dict, body: bytes | None = None) -> None:
    t0 = time.monotonic()
    status, data = raw(info, "GET /v1/status HTTP/1.0\nAUTH\n", wait=5)
    assert status == 200 and json.loads(data)["service"] == "photostyle"
    assert time.monotonic() - t0 < 1.0, time.monotonic() - t0
    if body is not None:
        t0 = time.monotonic()
        status, data = post(info, body)
        assert status == 200
        header, blobs = unpack(data[data.rindex(b'\n{"ok"') + 1 :])
        assert header["ok"] and len(blobs["image"]) > 0, header
        assert time.monotonic() - t0 < 3.0, time.monotonic() - t0


def test_idle_connections_beyond_the_bound_neither_block_nor_stay(svc, body) -> None:
    _, info = svc
    answers_quickly(info, body)  # warm
    idle = [socket.create_connection(("127.0.0.1", info["port"]), timeout=10) for _ in range(4 * WORKERS)]
    try:
        time.sleep(0.3)
        answers_quickly(info, body)
        for s in idle:  # each is closed by the service after the client timeout
            assert s.recv(16) == b""
    finally:
        for s in idle:
            s.close()
    answers_quickly(info)


def test_a_slow_body_times_out_with_408_and_does_not_block(svc, body) -> None:
    _, info = svc
    slow = []
    for _ in range(WORKERS - 1):  # all but one worker held by clients that stop half way
        s = socket.create_connection(("127.0.0.1", info["port"]), timeout=10)
        s.sendall(f"POST /v1/transfer HTTP/1.0\r\nAuthorization: Bearer {info['token']}\r\n".encode())
        s.sendall(f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
        slow.append(s)
    try:
        time.sleep(0.3)
        answers_quickly(info, body)
        t0 = time.monotonic()
        for s in slow:
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            assert reply.startswith(b"HTTP/1.0 408"), reply[:100]
            assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["type"] == "Timeout"
        assert time.monotonic() - t0 < TIMEOUT + 2
    finally:
        for s in slow:
            s.close()
    answers_quickly(info)


def test_an_oversized_body_is_refused_unread(svc) -> None:
    _, info = svc
    status, data = post(info, b"x" * 1000, length=MAX_REQUEST_BYTES + 1)
    err = json.loads(data)
    assert status == 413 and err["type"] == "TooLarge" and "largest supported photo" in err["error"], err
    answers_quickly(info)


@pytest.mark.parametrize(
    ("data", "length", "code", "words"),
    [
        (b"{not json\n", None, 400, "not valid JSON"),
        (b"[1, 2]\n", None, 400, "JSON object"),
        (b'{"photo": {"width": 4, "height": 4, "dtype": [1]}}\n', None, 400, "request"),
        (b"abc", -5, 400, "negative"),
        (b"abc", "many", 411, "Content-Length"),
    ],
)
def test_malformed_requests_get_a_json_4xx(svc, data, length, code, words) -> None:
    _, info = svc
    status, reply = post(info, data, length)
    err = json.loads(reply)
    assert status == code and err["ok"] is False and words in err["error"], (status, err)
    answers_quickly(info)


def test_a_garbled_request_line_gets_a_json_400(svc) -> None:
    _, info = svc
    status, reply = raw(info, "NONSENSE\n")
    assert status == 400 and json.loads(reply)["ok"] is False


@pytest.mark.parametrize("name", ["..", ".", "a\x00b.png"])
def test_bad_reference_names_are_answered(svc, tmp_path, name) -> None:
    _, info = svc
    status, reply = post(info, request(tmp_path, reference_name=name))
    err = json.loads(reply)
    assert status == 400 and err["type"] == "InputError" and "reference_name" in err["error"], err
    answers_quickly(info)


@pytest.mark.parametrize(
    ("key", "value"),
    [("vgg_weights", "/etc/shadow"), ("vgg_weights", "/no/such"), ("region_reference", [[0, "/x.jpg"]])],
)
def test_no_file_paths_from_the_wire(svc, tmp_path, key, value) -> None:
    _, info = svc
    status, reply = post(info, request(tmp_path, settings={"quality": "preview", key: value}))
    err = json.loads(reply)
    assert status == 400 and err["type"] == "SettingsError" and repr(key) in err["error"], err
    assert "/etc" not in err["error"] and "/no/such" not in err["error"] and "exist" not in err["error"]


def test_a_huge_photo_header_is_refused_by_size(svc, tmp_path) -> None:
    _, info = svc
    header = {"photo": {"width": 100_000, "height": 100_000, "dtype": "u8"}, "reference_name": "r.png"}
    status, reply = post(info, pack(header, [("photo", b"")]))
    assert status == 400 and "megapixels" in json.loads(reply)["error"]
