"""The installer's own files: desktop entry, AppStream and MIME data, maintainer scripts, the
frozen entry point's dispatch, and a real .deb built by dpkg-deb from a stand-in bundle."""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
DEB = PACKAGING / "deb"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _desktop() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEB / "hearth.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_starts_the_app_and_opens_gguf_files() -> None:
    entry = _desktop()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "hearth-app" and "%F" in entry["Exec"]
    assert entry["Icon"] == "hearth"
    assert "application/x-gguf" in entry["MimeType"].split(";")
    assert entry["Categories"].endswith(";")


def test_mime_type_for_gguf_matches_the_desktop_entry() -> None:
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(DEB / "hearth-mime.xml").getroot()
    mime = root.find("m:mime-type", ns)
    assert mime is not None and mime.get("type") == "application/x-gguf"
    glob = mime.find("m:glob", ns)
    assert glob is not None and glob.get("pattern") == "*.gguf"


def test_metainfo_launches_the_desktop_entry() -> None:
    text = (DEB / "io.hearth.Hearth.metainfo.xml").read_text(encoding="utf-8")
    root = ET.fromstring(text.replace("@VERSION@", "0.1.0").replace("@DATE@", "2025-01-01"))
    assert root.findtext("id") == "io.hearth.Hearth"
    assert root.findtext("project_license") == "AGPL-3.0-or-later"
    assert root.findtext("launchable") == "hearth.desktop"
    assert {b.text for b in root.iter("binary")} == {"hearth", "hearth-app"}


def test_maintainer_scripts_never_reach_into_user_data() -> None:
    for name in ("postinst", "postrm"):
        script = (DEB / name).read_text(encoding="utf-8")
        body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
        for forbidden in ("/home", "~", "$HOME", ".local", "HEARTH_HOME"):
            assert forbidden not in body, f"{name} mentions {forbidden}"
        subprocess.run(["sh", "-n", str(DEB / name)], check=True)


def test_shell_scripts_parse() -> None:
    for script in ("smoke_test.sh", "macos/make_dmg.sh", "deb/hearth", "deb/hearth-app"):
        subprocess.run(["bash", "-n", str(PACKAGING / script)], check=True)


def test_spec_is_valid_python() -> None:
    compile((PACKAGING / "hearth.spec").read_text(encoding="utf-8"), "hearth.spec", "exec")


@pytest.mark.parametrize(
    ("exe", "argv0", "argv", "role", "rest"),
    [
        ("/opt/hearth/hearth", "hearth", ["ingest", "d"], "engine", ["ingest", "d"]),
        (
            "/opt/hearth/hearth",
            "/opt/hearth/hearth-app",
            ["--theme", "dark"],
            "app",
            ["--theme", "dark"],
        ),
        (r"C:\Hearth\hearth-app.exe", r"C:\Hearth\hearth-app.exe", [], "app", []),
        (r"C:\Hearth\hearth.exe", "hearth", ["status"], "engine", ["status"]),
        ("/opt/hearth/hearth", "hearth", ["-m", "trainer", "runs"], "trainer", ["runs"]),
        ("/opt/hearth/hearth", "/opt/hearth/hearth-app", ["-m", "trainer", "x"], "trainer", ["x"]),
    ],
)
def test_entry_point_picks_the_front_end(
    monkeypatch: pytest.MonkeyPatch,
    exe: str,
    argv0: str,
    argv: list[str],
    role: str,
    rest: list[str],
) -> None:
    """`hearth-app` is a link to `hearth` on Linux and its own executable on Windows and macOS."""
    entry = _load("hearth_frozen_entry", PACKAGING / "entry.py")
    monkeypatch.setattr(sys, "executable", exe)
    monkeypatch.setattr(sys, "argv", [argv0, *argv])
    monkeypatch.delenv("HEARTH_FROZEN_ROLE", raising=False)
    assert entry._role(argv) == (role, rest)


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb builds .deb files on Debian")
def test_deb_layout_from_a_stand_in_bundle(tmp_path: Path) -> None:
    build = _load("hearth_packaging_build", PACKAGING / "build.py")
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    for exe in ("hearth", "hearth-app"):
        (bundle / exe).write_text("#!/bin/sh\necho stand-in\n")
        (bundle / exe).chmod(0o755)
    out = build.build_deb("cpu", bundle=bundle, out_dir=tmp_path, staging=tmp_path / "root")
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(out), "Package", "Version", "Installed-Size", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Package: hearth\n" in fields
    import engine

    assert f"Version: {engine.__version__}\n" in fields
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(out)], capture_output=True, text=True, check=True
    ).stdout
    for path in (
        "./opt/hearth/hearth",
        "./opt/hearth/hearth-app",
        "./usr/bin/hearth",
        "./usr/bin/hearth-app",
        "./usr/share/applications/hearth.desktop",
        "./usr/share/metainfo/io.hearth.Hearth.metainfo.xml",
        "./usr/share/mime/packages/hearth.xml",
        "./usr/share/icons/hicolor/256x256/apps/hearth.png",
        "./usr/share/doc/hearth/copyright",
    ):
        assert path in listing, path
    assert "root/root" in listing  # files owned by root, not by whoever built the package
    metainfo = (tmp_path / "root/usr/share/metainfo/io.hearth.Hearth.metainfo.xml").read_text()
    assert "@VERSION@" not in metainfo and engine.__version__ in metainfo
