"""The GIMP 3 plug-in: its engine client and installer here, and the plug-in itself inside a real GIMP 3.

The real-GIMP test builds a Debian trixie root with GIMP 3 (mmdebstrap; cached in $PHOTOSTYLE_GIMP_ROOT or
/var/tmp/photostyle-gimp-root), installs the plug-in there with ``photostyle gimp install``, starts
``photostyle serve`` on this machine's loopback (which the chroot shares), and drives GIMP headless.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from photostyle.cli import main as cli_main
from photostyle.imageio import read_image, to_uint
from photostyle.pipeline import transfer
from photostyle.regions.labels import RegionPairs
from photostyle.service import build_settings, pack
from photostyle.service.install import CONFIG_NAME, find_profiles, install, uninstall
from photostyle.settings import SKIN

from .conftest import ROOT, small

PLUGIN = ROOT / "plugins" / "gimp" / "photostyle" / "photostyle.py"
ENV_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PREVIEW = {"quality": "preview"}


def load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("photostyle_gimp_plugin", PLUGIN)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def plug() -> ModuleType:
    return load_plugin()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("imgs")
    photo = to_uint(small("chelsea.png", 120), 8)
    Image.fromarray(photo).save(d / "photo.png")
    Image.fromarray(to_uint(small("coffee.png", 100), 8)).save(d / "coffee.png")
    return {"photo": photo, "photo_path": d / "photo.png", "ref_path": d / "coffee.png"}


# ------------------------------------------------------------------------------------------------ the plug-in file
def test_plugin_uses_only_gi_and_the_standard_library() -> None:
    tree = ast.parse(PLUGIN.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "gi"}
    assert not third_party, third_party
    # importing it (as the tests do) pulls in neither torch, numpy nor photostyle, and no GIMP module
    code = (
        "import importlib.util, sys; s = importlib.util.spec_from_file_location('p', sys.argv[1]); "
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
        "print(sorted(n for n in ('torch', 'numpy', 'photostyle', 'gi') if n in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-I", "-c", code, str(PLUGIN)], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_alpha_split_and_merge_round_trip(plug) -> None:
    rng = np.random.default_rng(0)
    for dtype, bpc in ((np.uint8, 1), (np.uint16, 2), (np.float32, 4)):
        rgba = (rng.random((7, 5, 4)) * 200).astype(dtype)
        rgb, keep = plug.split_alpha(rgba.tobytes(), bpc)
        np.testing.assert_array_equal(np.frombuffer(rgb, dtype).reshape(7, 5, 3), rgba[..., :3])
        new_rgb = (rgba[..., :3] + 1).astype(dtype)
        merged = np.frombuffer(plug.merge_alpha(keep, new_rgb.tobytes(), bpc), dtype).reshape(7, 5, 4)
        np.testing.assert_array_equal(merged[..., :3], new_rgb)
        np.testing.assert_array_equal(merged[..., 3], rgba[..., 3])


def test_settings_dict_carries_every_control(plug) -> None:
    s = plug.settings_dict("best", "luminance", 0.4, '{"iterations": [30, 8, 20], "style_loss": "histogram"}')
    assert s == {
        "quality": "best",
        "preserve_color": "luminance",
        "strength": 0.4,
        "iterations": [30, 8, 20],
        "style_loss": "histogram",
    }
    built = build_settings(s)  # and the engine takes them as they are
    assert (built.preserve_color, built.strength, built.iterations, built.style_loss) == (
        "luminance",
        0.4,
        (30, 8, 20),
        "histogram",
    )
    with pytest.raises(plug.EngineError, match="not valid JSON"):
        plug.settings_dict("best", "none", 1.0, "{iterations: 3}")
    # the dialog's Skin choice: its nicks are the engine's values
    assert [nick for nick, _ in plug.SKIN] == list(SKIN)
    for nick in SKIN:
        assert build_settings(plug.settings_dict("preview", "none", 1.0, "", nick)).skin == nick


def _request(plug, images, settings=None) -> bytes:
    p = images["photo"]
    return plug.make_request(p.tobytes(), p.shape[1], p.shape[0], "u8", str(images["ref_path"]), settings or PREVIEW)


def _library(images, settings=None, masks=None) -> np.ndarray:
    ref = read_image(images["ref_path"])
    return transfer(images["photo"], ref, masks=masks, settings=build_settings(settings or PREVIEW)).image


def test_client_starts_the_service_when_none_runs(plug, images, tmp_path, monkeypatch) -> None:
    for k, v in ENV_THREADS.items():
        monkeypatch.setenv(k, v)
    svc = tmp_path / "state" / "service.json"
    cfg = {"engine": [sys.executable, "-m", "photostyle"], "service_file": str(svc), "idle_exit": 120}
    assert plug.find_service(cfg) is None
    seen: list[tuple[float, str]] = []
    header, out = plug.run_engine(cfg, _request(plug, images), lambda f, m: seen.append((f, m)))
    info = json.loads(svc.read_text())
    try:
        assert header["ok"] and seen[0][1] == "starting the photostyle engine" and seen[-1][0] == 1.0
        res = np.frombuffer(out, np.uint8).reshape(images["photo"].shape)
        assert np.abs(res.astype(int) - to_uint(_library(images), 8).astype(int)).max() <= 1
        status = plug.service_status(info)
        assert status and status["jobs"] == 1
        # a second call finds the same service
        plug.run_engine(cfg, _request(plug, images))
        assert plug.service_status(info)["jobs"] == 2 and json.loads(svc.read_text())["pid"] == info["pid"]
    finally:
        _shutdown(info)


def _shutdown(info: dict) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
    try:
        conn.request("POST", "/v1/shutdown", headers={"Authorization": f"Bearer {info['token']}"})
        conn.getresponse().read()
    except OSError:
        pass
    finally:
        conn.close()
    t_end = time.monotonic() + 30
    while time.monotonic() < t_end:
        try:  # the service is this process's child here (the plug-in started it): reap it
            if os.waitpid(info["pid"], os.WNOHANG)[0]:
                return
        except ChildProcessError:
            try:
                os.kill(info["pid"], 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    raise AssertionError(f"the service (pid {info['pid']}) did not stop after /v1/shutdown")


def test_client_falls_back_to_a_one_shot_engine(plug, images, tmp_path, monkeypatch) -> None:
    for k, v in ENV_THREADS.items():
        monkeypatch.setenv(k, v)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the service's folder would be: no service can start")
    cfg = {"engine": [sys.executable, "-m", "photostyle"], "service_file": str(blocker / "service.json")}
    assert plug.start_service(cfg, timeout=60) is None
    seen: list[float] = []
    header, out = plug.run_engine(cfg, _request(plug, images), lambda f, m: seen.append(f))
    assert header["ok"] and seen[-1] == 1.0
    res = np.frombuffer(out, np.uint8).reshape(images["photo"].shape)
    assert np.abs(res.astype(int) - to_uint(_library(images), 8).astype(int)).max() <= 1
    # the engine's errors come back as one message
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    bad = plug.make_request(images["photo"].tobytes(), 120, 80, "u8", str(broken), PREVIEW)
    with pytest.raises(plug.EngineError, match=r"broken\.jpg.*cannot decode"):
        plug.run_engine(cfg, bad)


def test_client_without_an_engine_says_what_to_do(plug, images, tmp_path) -> None:
    cfg = {"engine": None, "service_file": str(tmp_path / "service.json")}
    with pytest.raises(plug.EngineError, match="photostyle gimp install"):
        plug.run_engine(cfg, _request(plug, images))
    with pytest.raises(plug.EngineError, match="missing.png"):
        plug.make_request(b"", 1, 1, "u8", str(tmp_path / "missing.png"), PREVIEW)


# ------------------------------------------------------------------------------------------------ the installer
def test_install_and_uninstall(tmp_path, capsys) -> None:
    profile = tmp_path / "GIMP" / "3.0"
    assert cli_main(["gimp", "install", "--gimp-dir", str(profile), "--service-file", "/x/service.json"]) == 0
    target = profile / "plug-ins" / "photostyle" / "photostyle.py"
    assert capsys.readouterr().out.strip() == str(target)
    assert target.read_bytes() == PLUGIN.read_bytes()
    assert target.stat().st_mode & stat.S_IXUSR
    cfg = json.loads((target.parent / CONFIG_NAME).read_text())
    assert cfg["engine"] == [sys.executable, "-m", "photostyle"] and cfg["service_file"] == "/x/service.json"
    # the recorded engine really runs photostyle
    r = subprocess.run([*cfg["engine"], "serve", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "127.0.0.1" in r.stdout
    install(profile)  # again: replaces our own files
    assert cli_main(["gimp", "uninstall", "--gimp-dir", str(profile)]) == 0
    assert not target.parent.exists() and (profile / "plug-ins").is_dir()
    assert uninstall(profile) is None


def test_install_leaves_a_foreign_plugin_alone(tmp_path) -> None:
    folder = tmp_path / "3.0" / "plug-ins" / "photostyle"
    folder.mkdir(parents=True)
    (folder / "photostyle.py").write_text("# someone else's plug-in\n")
    assert cli_main(["gimp", "install", "--gimp-dir", str(tmp_path / "3.0")]) == 2
    assert (folder / "photostyle.py").read_text() == "# someone else's plug-in\n"
    assert cli_main(["gimp", "uninstall", "--gimp-dir", str(tmp_path / "3.0")]) == 2
    assert (folder / "photostyle.py").exists()


def test_profile_folders_per_platform(tmp_path) -> None:
    home = tmp_path / "home"
    # nothing there yet: the folder GIMP 3.0 will create
    assert find_profiles(home, "linux", {}) == [("linux", home / ".config" / "GIMP" / "3.0")]
    assert find_profiles(home, "darwin", {}) == [("macos", home / "Library/Application Support/GIMP/3.0")]
    win = find_profiles(home, "win32", {"APPDATA": str(tmp_path / "Roaming")})
    assert win == [("windows", tmp_path / "Roaming" / "GIMP" / "3.0")]
    # only the Flatpak app is installed: its sandboxed config folder
    (home / ".var" / "app" / "org.gimp.GIMP" / "config").mkdir(parents=True)
    assert find_profiles(home, "linux", {}) == [
        ("flatpak", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0")
    ]
    # existing profiles: each kind's newest 3.x, XDG_CONFIG_HOME honoured, GIMP 2.10 ignored
    for d in ("xdg/GIMP/2.10", "xdg/GIMP/3.0", "xdg/GIMP/3.2", "home/.var/app/org.gimp.GIMP/config/GIMP/3.0"):
        (tmp_path / d).mkdir(parents=True)
    found = find_profiles(home, "linux", {"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert found == [
        ("linux", tmp_path / "xdg" / "GIMP" / "3.2"),
        ("flatpak", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0"),
    ]
    assert find_profiles(home, "linux", {"GIMP3_DIRECTORY": "/opt/g"}) == [("GIMP3_DIRECTORY", Path("/opt/g"))]


# ------------------------------------------------------------------------------------------------ a real GIMP 3
GIMP_ROOT = Path(os.environ.get("PHOTOSTYLE_GIMP_ROOT", "/var/tmp/photostyle-gimp-root"))
GIMP_BIN = "usr/bin/gimp-console-3.0"


def _debian_reachable() -> bool:
    try:
        socket.create_connection(("deb.debian.org", 80), timeout=10).close()
        return True
    except OSError:
        return False


def gimp_root() -> Path:
    """The cached trixie root with GIMP 3, built with mmdebstrap when missing; skips where that cannot run."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the real-GIMP test builds a Debian root with mmdebstrap: Linux only")
    if os.geteuid() != 0:
        pytest.skip("the real-GIMP test needs root (mmdebstrap and chroot); CI runs it as root")
    if (GIMP_ROOT / GIMP_BIN).exists():
        return GIMP_ROOT
    if not shutil.which("mmdebstrap"):
        if not shutil.which("apt-get"):
            pytest.skip("mmdebstrap is not installed and there is no apt-get to install it")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "-q", "mmdebstrap"], capture_output=True, env=env)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            r = subprocess.run(["apt-get", "install", "-y", "-q", "mmdebstrap"], capture_output=True, env=env)
        if r.returncode != 0:
            if not _debian_reachable():
                pytest.skip("mmdebstrap is missing and Debian's mirror cannot be reached to install it")
            pytest.fail(f"apt-get install mmdebstrap failed:\n{r.stderr.decode()[-2000:]}")
    build = GIMP_ROOT.with_name(f"{GIMP_ROOT.name}.build-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    GIMP_ROOT.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["mmdebstrap", "--variant=minbase", "--include=gimp,python3-gi,gir1.2-gimp-3.0", "trixie", str(build)]
    print("building the GIMP 3 root:", " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, timeout=1800)
    if r.returncode != 0 or not (build / GIMP_BIN).exists():
        shutil.rmtree(build, ignore_errors=True)
        if not _debian_reachable():
            pytest.skip("mmdebstrap cannot reach Debian's mirror (no network)")
        pytest.fail(f"mmdebstrap failed:\n{r.stderr.decode()[-3000:]}")
    try:
        os.rename(build, GIMP_ROOT)
    except OSError:  # built by a parallel run in the meantime
        shutil.rmtree(build, ignore_errors=True)
    return GIMP_ROOT


BATCH = r"""
import json
from gi.repository import Gimp, Gio
W = "@WORK@"
out = {}
def run_case(name, reference="coffee.png", select=None, precision=None, masks="none", alpha_hole=None,
             preserve="none", strength=1.0, grey=False):
    img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(W + "/photo.png"))
    layer = img.get_layers()[0]
    if grey:
        img.convert_grayscale()
    if precision is not None:
        img.convert_precision(precision)
    if alpha_hole:
        layer.add_alpha()
        img.select_rectangle(Gimp.ChannelOps.REPLACE, *alpha_hole)
        layer.edit_clear()
        Gimp.Selection.none(img)
    if select:
        img.select_rectangle(Gimp.ChannelOps.REPLACE, *select)
    proc = Gimp.get_pdb().lookup_procedure("plug-in-photostyle-transfer")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", [layer])
    cfg.set_property("reference", Gio.File.new_for_path(W + "/" + reference))
    cfg.set_property("quality", "preview")
    cfg.set_property("masks", masks)
    cfg.set_property("preserve-color", preserve)
    cfg.set_property("strength", strength)
    cfg.set_property("settings-json", '{"threads": 1}')
    res = proc.run(cfg)
    layers = img.get_layers()
    rec = {"status": res.index(0).value_nick, "layers": [l.get_name() for l in layers]}
    if res.index(0) != Gimp.PDBStatusType.SUCCESS:
        rec["error"] = str(res.index(1)) if res.length() > 1 else ""
    else:
        rec["selected"] = [l.get_name() for l in img.get_selected_layers()]
        Gimp.Selection.none(img)
        layers[-1].set_visible(False)
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(W + "/" + name + ".png"), None)
    out[name] = rec
    img.delete()
run_case("whole")
run_case("rect", select=(20, 10, 50, 40))
run_case("target", select=(20, 10, 50, 40), masks="selection")
run_case("u16", precision=Gimp.Precision.U16_NON_LINEAR)
run_case("alpha", alpha_hole=(0, 0, 30, 20))
run_case("controls", preserve="luminance", strength=0.5)
run_case("grey", grey=True)
run_case("broken", reference="broken.png")
run_case("notarget", masks="selection")
json.dump(out, open(W + "/result.json", "w"), indent=1)
"""


def test_plugin_in_a_real_gimp(images, tmp_path) -> None:
    root = gimp_root()
    work = Path(tempfile.mkdtemp(prefix="photostyle-test-", dir=root / "tmp"))
    inner = "/" + str(work.relative_to(root))
    service = None
    try:
        shutil.copy(images["photo_path"], work / "photo.png")
        shutil.copy(images["ref_path"], work / "coffee.png")
        (work / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        profile = work / "home" / ".config" / "GIMP" / "3.0"
        assert cli_main(["gimp", "install", "--gimp-dir", str(profile), "--service-file", f"{inner}/service.json"]) == 0
        (work / "batch.py").write_text(BATCH.replace("@WORK@", inner))
        env = dict(os.environ, **ENV_THREADS)
        service = subprocess.Popen(
            [sys.executable, "-m", "photostyle", "serve", "--service-file", str(work / "service.json")]
            + ["--threads", "1", "--no-preload"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        t_end = time.monotonic() + 120
        while not (work / "service.json").exists():
            assert service.poll() is None and time.monotonic() < t_end, "the service did not start"
            time.sleep(0.1)
        gimp_env = {"HOME": f"{inner}/home", "LANG": "C.UTF-8", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        cmd = ["chroot", str(root), "env", "-i", *(f"{k}={v}" for k, v in gimp_env.items())]
        cmd += ["gimp-console-3.0", "-i", "--batch-interpreter=python-fu-eval"]
        cmd += ["-b", f'exec(open("{inner}/batch.py").read())', "--quit"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        print(f"GIMP batch run: {time.perf_counter() - t0:.1f} s")
        assert r.returncode == 0 and (work / "result.json").exists(), r.stdout[-3000:] + r.stderr[-3000:]
        res = json.loads((work / "result.json").read_text())
        for name in ("whole", "rect", "target", "u16", "alpha", "controls", "grey"):
            assert res[name]["status"] == "success", (name, res[name])
            assert res[name]["layers"] == ["coffee look", "Background"], res[name]  # a new layer, above
            assert res[name]["selected"] == ["coffee look"]
        assert res["broken"]["status"] == "execution-error" and res["broken"]["layers"] == ["Background"]
        assert "broken.png" in res["broken"]["error"] and "cannot decode" in res["broken"]["error"]
        assert res["notarget"]["status"] == "calling-error" and "needs a selection" in res["notarget"]["error"]
        for name in ("whole", "rect", "target", "u16", "alpha", "controls", "grey"):
            shutil.copy(work / f"{name}.png", tmp_path / f"gimp_{name}.png")
    finally:
        if service is not None:
            service.terminate()
            log = service.communicate(timeout=30)[0].decode()
            print(log[-2000:])
        shutil.rmtree(work, ignore_errors=True)

    photo = images["photo"].astype(int)
    lib = _library(images)
    lib8 = to_uint(lib, 8).astype(int)
    Image.fromarray(to_uint(lib, 8)).save(tmp_path / "library.png")

    whole = np.asarray(Image.open(tmp_path / "gimp_whole.png").convert("RGB")).astype(int)
    assert np.abs(whole - lib8).max() <= 1  # the same look as a direct library call
    assert np.abs(whole - photo).mean() > 5

    inside = np.zeros(photo.shape[:2], bool)
    inside[10:50, 20:70] = True  # select_rectangle(20, 10, 50, 40): x, y, width, height
    rect = np.asarray(Image.open(tmp_path / "gimp_rect.png").convert("RGB")).astype(int)
    assert np.array_equal(rect[~inside], photo[~inside])  # outside the selection: untouched
    assert np.abs(rect[inside] - lib8[inside]).max() <= 1

    ref = read_image(images["ref_path"])
    pairs = RegionPairs(inside.astype(np.int32), np.zeros(ref.pixels.shape[:2], np.int32), {0: 0, 1: 0})
    lib_target = to_uint(_library(images, masks=pairs), 8).astype(int)
    target = np.asarray(Image.open(tmp_path / "gimp_target.png").convert("RGB")).astype(int)
    assert np.array_equal(target[~inside], photo[~inside])
    assert np.abs(target[inside] - lib_target[inside]).max() <= 1
    assert np.abs(target[inside] - lib8[inside]).mean() > 1  # the object's own statistics, not the global map

    u16 = read_image(tmp_path / "gimp_u16.png")
    assert u16.bit_depth == 16
    got16 = to_uint(u16.pixels, 16).astype(int)
    assert np.abs(got16 - to_uint(lib, 16).astype(int)).max() <= 2  # full 16-bit precision both ways
    assert np.any(got16 % 257 != 0)

    rgba = np.asarray(Image.open(tmp_path / "gimp_alpha.png").convert("RGBA")).astype(int)
    hole = np.zeros(photo.shape[:2], bool)
    hole[0:20, 0:30] = True
    assert (rgba[..., 3][hole] == 0).all() and (rgba[..., 3][~hole] == 255).all()  # the layer's alpha is kept
    assert np.abs(rgba[..., :3][~hole] - photo[~hole]).mean() > 5

    # the dialog's preserve-colours and strength reach the engine as they do through the library
    controls = np.asarray(Image.open(tmp_path / "gimp_controls.png").convert("RGB")).astype(int)
    lib_controls = to_uint(_library(images, {"quality": "preview", "preserve_color": "luminance", "strength": 0.5}), 8)
    assert np.abs(controls - lib_controls.astype(int)).max() <= 1
    assert np.abs(controls - whole).mean() > 3

    # a grey image: styled in RGB, written back as grey by GIMP
    with Image.open(tmp_path / "gimp_grey.png") as gi:
        assert gi.mode in ("L", "LA"), gi.mode
        grey = np.asarray(gi.convert("L")).astype(int)
    grey_photo = np.asarray(Image.fromarray(images["photo"]).convert("L")).astype(int)
    assert np.abs(grey - grey_photo).mean() > 3

    strip = [photo, lib8, whole, rect, target, np.round(u16.pixels * 255), controls]
    Image.fromarray(np.concatenate(strip, 1).astype(np.uint8)).save(tmp_path / "gimp_vs_library.png")
    print(f"GIMP results next to the library's: {tmp_path / 'gimp_vs_library.png'}")


def test_wire_format_of_the_plugin_matches_the_service(plug) -> None:
    blobs = [("photo", b"abc"), ("reference", b"defg")]
    assert plug.pack({"x": 1}, blobs) == pack({"x": 1}, blobs)
    assert plug.unpack(pack({"ok": True}, [("image", b"xyz")])) == (
        {"ok": True, "blobs": [["image", 3]]},
        {"image": b"xyz"},
    )
