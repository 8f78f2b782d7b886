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
    own = {f.stem for f in PLUGIN.parent.glob("*.py")}
    assert own == {"photostyle", "photostyle_client", "photostyle_gimp", "photostyle_dialog"}
    roots = set()
    for f in PLUGIN.parent.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots.add(node.module.split(".")[0])
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "gi" and r not in own}
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
    assert [nick for nick, _, _ in plug.SKIN] == list(SKIN)
    for nick in SKIN:
        assert build_settings(plug.settings_dict("preview", "none", 1.0, "", nick)).skin == nick


def test_words_for_photographers(plug, tmp_path) -> None:
    # engine messages without folders or errno, capitalised unless they start with a file name
    msg = plug.plain("request: cannot read /home/ann/.cache/x/ref.jpg ([Errno 13] Permission denied)")
    assert msg == "Cannot read ref.jpg." and "/" not in msg
    assert plug.plain("broken.jpg: cannot decode").startswith("broken.jpg")
    # progress stages and the time left
    assert plug.stage_words("scale 2/3 (512 px): optimising at 512x340") == "Painting the look, pass 2 of 3"
    assert plug.stage_words("finding regions").startswith("Finding the regions")
    assert plug.stage_words("looking for skin") == "Looking for skin to protect"
    assert plug.stage_words("protecting skin tones") == "Protecting skin tones"
    assert plug.stage_words("waiting for another photo to finish") == "Waiting for another photo to finish"
    clock = iter([0.0, 1.0, 11.0, 21.0]).__next__
    meter = plug.Progress(clock)
    assert meter.line(0.1, "scale 1/2 (256 px): x") == "Painting the look, pass 1 of 2"
    assert meter.line(0.3, "scale 1/2 (256 px): x") == "Painting the look, pass 1 of 2, about 35 s left"
    assert meter.line(0.9, "scale 2/2 (512 px): x") == "Painting the look, pass 2 of 2, about 5 s left"
    # the result layer's name carries the settings that differ from the defaults
    assert plug.layer_name("sunset", "preview", "none", 1.0, "protect", "auto") == "sunset look"
    name = plug.layer_name("sunset", "best", "luminance", 0.6, "protect", "auto")
    assert name == "sunset look, best, 60 %, luminance"
    assert plug.DEFAULTS["quality"] == "preview"  # preview first; best is the deliberate second step
    # the dialog's checks
    assert plug.reference_file_problem("").startswith("Choose a reference photo")
    gone = plug.reference_file_problem(str(tmp_path / "gone.jpg"))
    assert gone == "The reference photo gone.jpg is no longer there: choose it again or pick another."
    odd = tmp_path / "notes.webp"
    odd.write_text("text")
    assert "GIMP cannot open notes.webp" in plug.reference_file_problem(str(odd), lambda p: False)
    assert plug.reference_file_problem(str(odd), lambda p: True) == ""
    # the last choices are remembered, whatever happened to the run
    path = str(tmp_path / "last.json")
    plug.save_choices(path, {"reference": "/x/gone.jpg", "strength": 0.6, "canvas-preview": True, "junk": 1})
    assert plug.load_choices(path) == {"reference": "/x/gone.jpg", "strength": 0.6, "canvas-preview": True}
    assert plug.load_choices(str(tmp_path / "none.json")) == {}


def test_no_mnemonic_is_used_twice() -> None:
    """The dialog's mnemonics (underscored letters), with GIMP's own buttons: OK, Cancel, Help, Reset, Load/Save
    Settings."""
    src = "".join(f.read_text() for f in PLUGIN.parent.glob("*.py"))
    import re

    labels = re.findall(r'_argument\(\s*"[^"]+",\s*"([^"]+)"', src) + re.findall(r'with_mnemonic\("([^"]+)"', src)
    assert len(labels) >= 12, labels
    keys = [lab[lab.index("_") + 1].lower() for lab in set(labels) if "_" in lab]  # the file argument's label is
    # the chooser's (the dialog shows the chooser in its place)
    assert len(keys) >= 10, labels
    gimp_buttons = ["o", "c", "h", "r", "l", "s"]  # _OK _Cancel _Help _Reset _Load Saved Settings _Save Settings
    assert len(set(keys)) == len(keys), sorted(keys)
    assert not set(keys) & set(gimp_buttons), sorted(keys)


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
    for module in ("photostyle_client.py", "photostyle_gimp.py", "photostyle_dialog.py"):  # its modules
        assert (target.parent / module).read_bytes() == (PLUGIN.parent / module).read_bytes()
    help_map = (target.parent / "help" / "en" / "gimp-help.xml").read_text()  # F1 opens the shipped page
    assert 'id="plug-in-photostyle-transfer" ref="index.html"' in help_map
    assert "Transfer Look" in (target.parent / "help" / "en" / "index.html").read_text()
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


# A helper extension for the test profile: GIMP starts it with itself; its temporary procedure acts on an image
# while the photostyle plug-in works (when the service says a job runs): closes the image, or paints on the layer
# and moves the selection, as a user would during the wait. GIMP runs PDB calls one at a time per plug-in, so a
# batch script cannot do that itself.
MEDDLER = r"""#!/usr/bin/env python3
import http.client, json, sys, time
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GLib, GObject, Gegl
pending = []
def busy(service_file):
    try:
        info = json.load(open(service_file))
        c = http.client.HTTPConnection("127.0.0.1", int(info["port"]), timeout=2)
        c.request("GET", "/v1/status", headers={"Authorization": "Bearer " + info["token"]})
        return json.loads(c.getresponse().read()).get("busy")
    except (OSError, ValueError):
        return False
def later(procedure, config, data):
    pending.append((config.get_property("image"), config.get_property("action"), config.get_property("service"),
                    config.get_property("display-id")))
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
def act(image, action, folder, display_id):
    if action == "close":  # as a user closing the image's window (the image goes with its last display)
        Gimp.Display.get_by_id(display_id).delete()
    elif action == "delete":
        image.delete()
    else:
        layer = image.get_layers()[-1]
        Gimp.context_set_foreground(Gegl.Color.new("red"))
        image.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, 40, 30)
        layer.edit_fill(Gimp.FillType.FOREGROUND)
        image.select_rectangle(Gimp.ChannelOps.REPLACE, 60, 40, 30, 20)
    open(folder + "/" + action + ".acted", "w").close()
def run(procedure, config, data):
    plug_in = procedure.get_plug_in()
    temp = Gimp.Procedure.new(plug_in, "photostyle-test-when-busy", Gimp.PDBProcType.TEMPORARY, later, None)
    rw = GObject.ParamFlags.READWRITE
    temp.add_image_argument("image", "image", "", False, rw)
    temp.add_string_argument("action", "action", "", "close", rw)
    temp.add_string_argument("service", "service", "", "", rw)
    temp.add_int_argument("display-id", "display-id", "", 0, 1 << 30, 0, rw)
    plug_in.add_temp_procedure(temp)
    procedure.persistent_ready()
    while True:
        plug_in.persistent_process(50)
        for item in list(pending):
            if busy(item[2]):
                pending.remove(item)
                act(item[0], item[1], item[2].rsplit("/", 1)[0], item[3])
class Meddler(Gimp.PlugIn):
    def do_query_procedures(self):
        return ["extension-photostyle-test"]
    def do_create_procedure(self, name):
        return Gimp.Procedure.new(self, name, Gimp.PDBProcType.PERSISTENT, run, None)
Gimp.main(Meddler.__gtype__, sys.argv)
"""

BATCH = r"""
import json, os
import gi
gi.require_version("Gegl", "0.4")
from gi.repository import Gimp, Gio, Gegl
Gegl.init(None)
W = "@WORK@"
os.chdir(W)
out = {}
PROC = Gimp.get_pdb().lookup_procedure("plug-in-photostyle-transfer")

def load(name="photo.png"):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(W + "/" + name))

def dump(drawable, name, fmt="R'G'B' u8"):
    w, h = drawable.get_width(), drawable.get_height()
    data = drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
    open(W + "/" + name + ".raw", "wb").write(bytes(data))

def call(img, layer, reference="coffee.png", masks="none", preserve="none", strength=1.0, quality="preview",
         source="file", ref_layer=None, extra='{"threads": 1}', regions=""):
    cfg = PROC.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", [layer])
    cfg.set_property("reference-from", source)
    if reference:
        cfg.set_property("reference", Gio.File.new_for_path(W + "/" + reference))
    if ref_layer is not None:
        cfg.set_property("reference-layer", ref_layer)
    cfg.set_property("quality", quality)
    cfg.set_property("masks", masks)
    cfg.set_property("preserve-color", preserve)
    cfg.set_property("strength", strength)
    cfg.set_property("settings-json", extra)
    cfg.set_property("region-strength", regions)
    res = PROC.run(cfg)
    rec = {"status": res.index(0).value_nick}
    if res.index(0) not in (Gimp.PDBStatusType.SUCCESS, Gimp.PDBStatusType.CANCEL):
        rec["error"] = str(res.index(1)) if res.length() > 1 else ""
    if img.is_valid():
        rec["layers"] = [l.get_name() for l in img.get_layers()]
        rec["masked"] = [l.get_mask() is not None for l in img.get_layers()]
    return rec

def run_case(name, select=None, precision=None, alpha_hole=None, grey=False, **kw):
    img = load()
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
    rec = call(img, layer, **kw)
    if rec["status"] == "success":
        rec["selected"] = [l.get_name() for l in img.get_selected_layers()]
        top = img.get_layers()[0]
        if top.get_mask() is not None:
            dump(top.get_mask(), name + "_mask", "Y u8")
        Gimp.Selection.none(img)
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
run_case("webp", reference="coffee.webp")
run_case("broken", reference="broken.png")
for name, kw in {
    "no_reference": {"reference": None},
    "missing": {"reference": "gone.png"},
    "not_an_image": {"reference": "notes.webp"},
    "notarget": {"masks": "selection"},
    "no_open_image": {"source": "layer"},
    "bad_json": {"extra": "{threads: 1}"},
}.items():
    run_case(name, **kw)

# variants: each run styles the original pixels and lands directly above the previous result
img = load()
base = img.get_layers()[0]
rec = {"first": call(img, base)}
first = img.get_layers()[0]
rec["second"] = call(img, first, strength=0.5)  # run on the result: styles its source, above it
dump(img.get_layers()[0], "variant_second")
rec["third"] = call(img, base, preserve="luminance")  # the original again: above the last result
dump(img.get_layers()[0], "variant_third")
rec["tattoos"] = [l.get_parasite("photostyle-look") is not None for l in img.get_layers()]
out["variants"] = rec
img.delete()

# an image open in GIMP as the reference (its layer's pixels travel)
img, ref = load(), load("coffee.png")
ref.get_layers()[0].set_name("coffee")  # a scripted load has no file: the result is named after the layer
rec = call(img, img.get_layers()[0], reference=None, source="layer", ref_layer=ref.get_layers()[0])
dump(img.get_layers()[0], "open_image")
out["open_image"] = rec
img.delete()
ref.delete()

# the pixels and the selection are read when the job starts: a red fill and a new selection made while the
# engine works change nothing
later = Gimp.get_pdb().lookup_procedure("photostyle-test-when-busy")
def when_busy(img, action):
    cfg = later.create_config()
    cfg.set_property("image", img)
    cfg.set_property("action", action)
    cfg.set_property("service", W + "/service.json")
    later.run(cfg)

img = load()
img.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 10, 50, 40)
when_busy(img, "edit")
rec = call(img, img.get_layers()[0], masks="auto")
rec["acted"] = os.path.exists("edit.acted")
dump(img.get_layers()[0], "snapshot")
dump(img.get_layers()[0].get_mask(), "snapshot_mask", "Y u8")
out["snapshot"] = rec
img.delete()

json.dump(out, open(W + "/result.json", "w"), indent=1)
"""


def _raw(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), np.uint8).reshape(shape).astype(int)


def _status(info: dict) -> dict:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
    conn.request("GET", "/v1/status", headers={"Authorization": f"Bearer {info['token']}"})
    try:
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def gimp_session(images, tmp_path_factory):
    """A work folder inside the GIMP root with the plug-in (and the test extension) installed and a service
    running on loopback; yields (root, work, inner path, service info)."""
    root = gimp_root()
    work = Path(tempfile.mkdtemp(prefix="photostyle-test-", dir=root / "tmp"))
    inner = "/" + str(work.relative_to(root))
    shutil.copy(images["photo_path"], work / "photo.png")
    shutil.copy(images["ref_path"], work / "coffee.png")
    Image.open(images["ref_path"]).save(work / "coffee.webp", lossless=True)
    (work / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (work / "notes.webp").write_text("not a picture")
    profile = work / "home" / ".config" / "GIMP" / "3.0"
    assert cli_main(["gimp", "install", "--gimp-dir", str(profile), "--service-file", f"{inner}/service.json"]) == 0
    ext = profile / "plug-ins" / "extension-photostyle-test" / "extension-photostyle-test.py"
    ext.parent.mkdir(parents=True)
    ext.write_text(MEDDLER)
    ext.chmod(0o755)
    env = dict(os.environ, **ENV_THREADS)
    service = subprocess.Popen(
        [sys.executable, "-m", "photostyle", "serve", "--service-file", str(work / "service.json")]
        + ["--threads", "1", "--no-preload"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        t_end = time.monotonic() + 120
        while not (work / "service.json").exists():
            assert service.poll() is None and time.monotonic() < t_end, "the service did not start"
            time.sleep(0.1)
        yield root, work, inner, json.loads((work / "service.json").read_text())
    finally:
        service.terminate()
        print(service.communicate(timeout=30)[0].decode()[-2000:])
        shutil.rmtree(work, ignore_errors=True)


def gimp_command(root: Path, inner: str, *args: str, gui: bool = False, extra_env: dict | None = None) -> list[str]:
    env = {"HOME": f"{inner}/home", "LANG": "C.UTF-8", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(extra_env or {})}
    cmd = ["chroot", str(root), "env", "-i", *(f"{k}={v}" for k, v in env.items())]
    return [*cmd, "gimp-3.0" if gui else "gimp-console-3.0", *args]


def test_plugin_in_a_real_gimp(images, gimp_session, tmp_path) -> None:
    root, work, inner, info = gimp_session
    (work / "batch.py").write_text(BATCH.replace("@WORK@", inner))
    cmd = gimp_command(root, inner, "-i", "--batch-interpreter=python-fu-eval")
    cmd += ["-b", f'exec(open("{inner}/batch.py").read())', "--quit"]
    jobs_before = _status(info)["jobs"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    print(f"GIMP batch run: {time.perf_counter() - t0:.1f} s")
    log = r.stdout + r.stderr
    assert r.returncode == 0 and (work / "result.json").exists(), log[-3000:]
    res = json.loads((work / "result.json").read_text())
    for name in ("whole", "rect", "target", "u16", "alpha", "controls", "grey", "webp"):
        shutil.copy(work / f"{name}.png", tmp_path / f"gimp_{name}.png")
    for name in work.glob("*.raw"):
        shutil.copy(name, tmp_path / name.name)
    print(json.dumps(res, indent=1))
    check_runs(res, images, tmp_path)
    check_errors(res)
    check_variants(res, images, tmp_path)
    check_snapshot(res, images, tmp_path, log, jobs_before, _status(info)["jobs"])


def check_runs(res: dict, images: dict, tmp_path: Path) -> None:
    names = {
        "whole": "coffee look, one look",
        "rect": "coffee look, one look",
        "target": "coffee look, object",
        "u16": "coffee look, one look",
        "alpha": "coffee look, one look",
        "controls": "coffee look, 50 %, luminance, one look",
        "grey": "coffee look, one look",
        "webp": "coffee look, one look",
    }
    for name, layer in names.items():
        assert res[name]["status"] == "success", (name, res[name])
        assert res[name]["layers"] == [layer, "Background"], res[name]  # a new layer, above, named by its settings
        assert res[name]["selected"] == [layer]
        assert res[name]["masked"] == [name in ("rect", "target"), False]  # the selection as a layer mask

    photo = images["photo"].astype(int)
    lib = _library(images)
    lib8 = to_uint(lib, 8).astype(int)
    Image.fromarray(to_uint(lib, 8)).save(tmp_path / "library.png")

    def png(name: str) -> np.ndarray:
        return np.asarray(Image.open(tmp_path / f"gimp_{name}.png").convert("RGB")).astype(int)

    whole = png("whole")
    assert np.abs(whole - lib8).max() <= 1  # the same look as a direct library call
    assert np.abs(whole - photo).mean() > 5
    # a reference GIMP decodes (WebP: the engine does not read it) gives the same look
    assert np.abs(png("webp") - lib8).max() <= 1

    inside = np.zeros(photo.shape[:2], bool)
    inside[10:50, 20:70] = True  # select_rectangle(20, 10, 50, 40): x, y, width, height
    rect = png("rect")
    assert np.array_equal(rect[~inside], photo[~inside])  # outside the selection: the layer below shows
    assert np.abs(rect[inside] - lib8[inside]).max() <= 1
    mask = _raw(tmp_path / "rect_mask.raw", photo.shape[:2])
    assert (mask[inside] == 255).all() and (mask[~inside] == 0).all()  # the mask is the selection

    ref = read_image(images["ref_path"])
    pairs = RegionPairs(inside.astype(np.int32), np.zeros(ref.pixels.shape[:2], np.int32), {0: 0, 1: 0})
    lib_target = to_uint(_library(images, masks=pairs), 8).astype(int)
    target = png("target")
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
    controls = png("controls")
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


def check_errors(res: dict) -> None:
    """Each mistake is named in words that say what to do, before anything runs; no path, no errno."""
    expected = {
        "broken": ("execution-error", "broken.png"),
        "no_reference": ("calling-error", "Choose a reference photo"),
        # a file argument that does not exist: GIMP itself refuses it before the plug-in runs (the dialog says
        # "no longer there" for a remembered reference that has gone: test_reference_file_problems)
        "missing": ("calling-error", "'reference'"),
        "not_an_image": ("calling-error", "GIMP cannot open notes.webp"),
        "notarget": ("calling-error", "needs a selection"),
        "no_open_image": ("calling-error", "Choose the open image"),
        "bad_json": ("calling-error", "not valid JSON"),
    }
    for name, (status, words) in expected.items():
        rec = res[name]
        assert rec["status"] == status and words in rec["error"], (name, rec)
        assert rec["layers"] == ["Background"], rec
        assert "/" not in rec["error"] and "Errno" not in rec["error"], rec
    assert "cannot decode" in res["broken"]["error"]


def check_variants(res: dict, images: dict, tmp_path: Path) -> None:
    v = res["variants"]
    assert [v[k]["status"] for k in ("first", "second", "third")] == ["success"] * 3, v
    # each result directly above the previous one; the original stays at the bottom
    assert v["third"]["layers"] == [
        "coffee look, luminance, one look",
        "coffee look, 50 %, one look",
        "coffee look, one look",
        "Background",
    ], v
    assert v["tattoos"] == [True, True, True, False]
    shape = images["photo"].shape
    # the second run was asked on the first result, yet styled the original pixels
    half = to_uint(_library(images, {"quality": "preview", "strength": 0.5}), 8).astype(int)
    assert np.abs(_raw(tmp_path / "variant_second.raw", shape) - half).max() <= 1
    lum = to_uint(_library(images, {"quality": "preview", "preserve_color": "luminance"}), 8).astype(int)
    assert np.abs(_raw(tmp_path / "variant_third.raw", shape) - lum).max() <= 1
    # an open image as the reference: its pixels travel, the same look as from its file
    assert res["open_image"]["status"] == "success"
    assert res["open_image"]["layers"] == ["coffee look, one look", "Background"], res["open_image"]
    lib8 = to_uint(_library(images), 8).astype(int)
    assert np.abs(_raw(tmp_path / "open_image.raw", shape) - lib8).max() <= 1


def check_snapshot(res: dict, images: dict, tmp_path: Path, log: str, before: int, after: int) -> None:
    snap = res["snapshot"]
    assert snap["status"] == "success" and snap["acted"], snap  # the edit landed while the engine worked
    assert snap["layers"] == ["coffee look", "Background"], snap
    shape = images["photo"].shape
    ref = read_image(images["ref_path"])
    from photostyle.regions import prepare_masks

    settings = build_settings({"quality": "preview", "threads": 1})
    pairs, _ = prepare_masks(images["photo"], ref, masks="auto", settings=settings)
    lib_auto = to_uint(transfer(images["photo"], ref, masks=pairs, settings=settings).image, 8).astype(int)
    got = _raw(tmp_path / "snapshot.raw", shape)
    assert np.abs(got - lib_auto).max() <= 1  # the red fill made during the run is not in the result
    mask = _raw(tmp_path / "snapshot_mask.raw", shape[:2])
    inside = np.zeros(shape[:2], bool)
    inside[10:50, 20:70] = True
    assert (mask[inside] == 255).all() and (mask[~inside] == 0).all()  # the selection at the start, not the new one

    for words in ("invalid ID", "Too many error", "TypeError", "Traceback"):
        assert words not in log, log[-3000:]
    # jobs done: every run that succeeded; the mistakes were caught before anything was sent
    assert after - before == 13, (before, after)


def test_wire_format_of_the_plugin_matches_the_service(plug) -> None:
    blobs = [("photo", b"abc"), ("reference", b"defg")]
    assert plug.pack({"x": 1}, blobs) == pack({"x": 1}, blobs)
    assert plug.unpack(pack({"ok": True}, [("image", b"xyz")])) == (
        {"ok": True, "blobs": [["image", 3]]},
        {"image": b"xyz"},
    )
