"""Build Hearth's installable application: portable llama.cpp, the PyInstaller bundle, the .deb.

    python packaging/build.py all        # llama, bundle, and on Debian/Ubuntu the .deb
    python packaging/build.py llama      # only the portable llama-cpp-python wheel (cached)
    python packaging/build.py bundle     # llama + PyInstaller: packaging/dist/<variant>/hearth/
    python packaging/build.py deb        # wrap an existing bundle as packaging/dist/*.deb
    python packaging/build.py report     # sizes of an existing bundle
    ... --variant cuda                   # llama.cpp and torch for NVIDIA GPUs

Run it with the Python of the environment to bundle (`make package` uses the project's .venv;
it needs `pyinstaller`). That environment's own llama-cpp-python is left alone: llama.cpp is
compiled once more, for CPUs in general (GGML_NATIVE=OFF), into a wheel cached under
packaging/build/wheels/, unpacked beside it and put first on PYTHONPATH for PyInstaller only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
ROOT = PACKAGING.parent
BUILD = PACKAGING / "build"
DIST = PACKAGING / "dist"
IS_WIN, IS_MAC = sys.platform == "win32", sys.platform == "darwin"

# llama.cpp for CPUs in general: no -march=native. On x86-64 ggml then targets AVX2/FMA/F16C
# (Intel Haswell, AMD Zen and later); on Apple silicon it uses Metal.
PORTABLE = ["-DGGML_NATIVE=OFF"]
CUDA = ["-DGGML_CUDA=on"]


class BuildError(RuntimeError):
    """A build step failed; the message says which and what to do."""


def log(msg: str) -> None:
    print(f"[build {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def hearth_version() -> str:
    text = (ROOT / "engine" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'__version__ = "([^"]+)"', text)
    if not found:
        raise BuildError("engine/__init__.py has no __version__")
    return found.group(1)


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    log("$ " + " ".join(cmd))
    started = time.monotonic()
    result = subprocess.run(cmd, env=env, cwd=cwd)
    if result.returncode != 0:
        raise BuildError(f"{cmd[0]} failed with exit status {result.returncode}")
    log(f"  done in {time.monotonic() - started:.0f} s")


# --- llama.cpp ----------------------------------------------------------------------------


def llama_cmake_args(variant: str) -> str:
    args = PORTABLE + (CUDA if variant == "cuda" else [])
    extra = os.environ.get("HEARTH_LLAMA_CMAKE_ARGS", "").split()
    return " ".join(args + extra)


def build_llama(variant: str) -> Path:
    """The portable llama-cpp-python, unpacked for PyInstaller; compiled only when not cached."""
    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError as e:
        raise BuildError("llama-cpp-python is not installed in this environment") from e
    cmake_args = llama_cmake_args(variant)
    given = os.environ.get("HEARTH_LLAMA_WHEEL")
    if given:  # a portable wheel built elsewhere (CI builds it once and installs it too)
        return _unpack(Path(given), variant)
    wheels = BUILD / "wheels" / variant
    stamp = wheels / "BUILD_ARGS.json"
    wanted = {"version": version, "cmake_args": cmake_args, "python": sys.version.split()[0]}
    found = sorted(wheels.glob(f"llama_cpp_python-{version}-*.whl"))
    if not found or not stamp.exists() or json.loads(stamp.read_text()) != wanted:
        log(f"compiling llama-cpp-python {version} with CMAKE_ARGS={cmake_args!r} (once; cached)")
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir(parents=True)
        env = {**os.environ, "CMAKE_ARGS": cmake_args}
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        # --no-cache-dir: pip's wheel cache may hold a build made with -march=native.
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-cache-dir",
                "--no-binary",
                "llama-cpp-python",
                "-w",
                str(wheels),
                f"llama-cpp-python=={version}",
            ],
            env=env,
        )
        stamp.write_text(json.dumps(wanted))
        found = sorted(wheels.glob(f"llama_cpp_python-{version}-*.whl"))
    if not found:
        raise BuildError(f"no llama-cpp-python wheel in {wheels}")
    return _unpack(found[-1], variant)


def _unpack(wheel: Path, variant: str) -> Path:
    if not wheel.is_file():
        raise BuildError(f"no such wheel: {wheel}")
    target = BUILD / f"llama-{variant}"
    marker = target / ".from"
    if not marker.exists() or marker.read_text() != wheel.name:
        shutil.rmtree(target, ignore_errors=True)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(target)
        marker.write_text(wheel.name)
    log(f"portable llama.cpp: {wheel.name} -> {target.relative_to(ROOT)}")
    return target


# --- icons --------------------------------------------------------------------------------


def make_icons() -> None:
    """hearth.ico (Windows) and hearth.icns (macOS) from the PNG icons, with Pillow."""
    from PIL import Image

    icons = ROOT / "resources" / "icons"
    BUILD.mkdir(parents=True, exist_ok=True)
    big = Image.open(icons / "hearth-512.png").convert("RGBA")
    big.save(BUILD / "hearth.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    if IS_MAC:
        big.save(BUILD / "hearth.icns")


# --- the bundle ---------------------------------------------------------------------------


def build_bundle(variant: str) -> Path:
    llama = build_llama(variant)
    try:
        importlib.metadata.version("pyinstaller")
    except importlib.metadata.PackageNotFoundError as e:
        raise BuildError(
            f"install PyInstaller first: {sys.executable} -m pip install pyinstaller"
        ) from e
    if IS_WIN or IS_MAC:
        make_icons()
    env = {
        **os.environ,
        "HEARTH_VARIANT": variant,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(llama), os.environ.get("PYTHONPATH")])),
        # No network while analysing imports either (hooks import the libraries).
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "true",
    }
    run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(DIST / variant),
            "--workpath",
            str(BUILD / f"pyinstaller-{variant}"),
            str(PACKAGING / "hearth.spec"),
        ],
        env=env,
        cwd=ROOT,
    )
    folder = DIST / variant / "hearth"
    if not (IS_WIN or IS_MAC):
        # One executable on Linux: `hearth-app` is `hearth` started by another name.
        (folder / "hearth-app").unlink(missing_ok=True)
        (folder / "hearth-app").symlink_to("hearth")
    check_bundle(folder, llama, variant)
    report(folder)
    return folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_bundle(folder: Path, llama: Path, variant: str) -> None:
    """The bundle holds the portable llama.cpp (not the environment's) and, for cpu, no CUDA."""
    internal = folder / "_internal"
    if not list((internal / "llama_cpp" / "lib").glob("*")):
        raise BuildError("the bundle has no llama_cpp/lib: llama.cpp would not load")
    # Dependency analysis may place the ggml libraries beside the others, not in llama_cpp/lib.
    libs = [
        p
        for p in internal.rglob("*")
        if p.is_file() and re.match(r"(lib)?(llama|ggml|mtmd)", p.name)
    ]
    for lib in libs:
        source = llama / "llama_cpp" / "lib" / lib.name
        # (On macOS PyInstaller re-signs libraries, so their bytes differ by design.)
        if not IS_MAC and source.exists() and _sha256(source) != _sha256(lib):
            raise BuildError(f"{lib.name} in the bundle is not the portable build")
    if variant == "cpu":
        cuda = [
            p.name
            for p in internal.rglob("*")
            if re.search(r"(cudart|cublas|cudnn|nccl|bitsandbytes_cuda|ggml-cuda)", p.name)
            and re.search(r"\.(so|dll|dylib)\b", p.name)
        ]
        if cuda:
            raise BuildError(f"CUDA libraries in the CPU bundle: {sorted(cuda)[:5]}")
    log(f"checked: portable llama.cpp ({len(libs)} libraries), no stray CUDA libraries")


def _tree_size(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def report(folder: Path, *, top: int = 20) -> str:
    """Total size and the parts that take the most room; also written to build/size-<name>.txt."""
    if not folder.exists():
        raise BuildError(f"no bundle at {folder}: build it first")
    internal = folder / "_internal"
    parts: list[tuple[int, str]] = []
    for child in sorted(internal.iterdir()) if internal.exists() else []:
        if child.is_dir() and child.name in ("PySide6", "torch"):
            for grand in child.iterdir():
                parts.append((_tree_size(grand), f"{child.name}/{grand.name}"))
        else:
            parts.append((_tree_size(child), child.name))
    for exe in folder.iterdir():
        if exe.is_file() and not exe.is_symlink():
            parts.append((exe.stat().st_size, f"(executable) {exe.name}"))
    total = _tree_size(folder)
    lines = [
        f"bundle {folder}: {total / 2**20:,.0f} MiB in {sum(1 for _ in folder.rglob('*')):,} entries"
    ]
    for size, name in sorted(parts, reverse=True)[:top]:
        lines.append(f"  {size / 2**20:8,.1f} MiB  {name}")
    text = "\n".join(lines)
    print(text)
    (BUILD / f"size-{folder.parent.name}.txt").write_text(text + "\n", encoding="utf-8")
    return text


# --- the .deb ------------------------------------------------------------------------------


def _substitute(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise BuildError(f"unfilled placeholders in a template: {left}")
    return text


def build_deb(
    variant: str,
    *,
    bundle: Path | None = None,
    out_dir: Path = DIST,
    staging: Path | None = None,
) -> Path:
    """Wrap the bundle as a Debian package with dpkg-deb: /opt/hearth, launchers, menu entry."""
    if not shutil.which("dpkg-deb"):
        raise BuildError("dpkg-deb is not installed: the .deb is built on Debian or Ubuntu")
    folder = bundle or DIST / variant / "hearth"
    if not (folder / "hearth").exists():
        raise BuildError(f"no bundle at {folder}: run `build.py bundle` first")
    deb = PACKAGING / "deb"
    version = hearth_version()
    package = "hearth" if variant == "cpu" else "hearth-cuda"
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    root = staging or BUILD / f"deb-{variant}"
    shutil.rmtree(root, ignore_errors=True)
    log(f"staging {root}")
    # Hard links: the staging tree costs no disk space and no copying time.
    shutil.copytree(folder, root / "opt" / "hearth", symlinks=True, copy_function=_link_or_copy)

    def place(
        src: Path, dest: str, mode: int = 0o644, values: dict[str, str] | None = None
    ) -> None:
        target = root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if values is None:
            shutil.copyfile(src, target)
        else:
            target.write_text(
                _substitute(src.read_text(encoding="utf-8"), values), encoding="utf-8"
            )
        target.chmod(mode)

    values = {
        "PACKAGE": package,
        "VERSION": version,
        "ARCH": arch,
        "DATE": time.strftime("%Y-%m-%d"),
        "VARIANT": "NVIDIA GPUs (CUDA)" if variant == "cuda" else "CPU",
        "MAINTAINER": os.environ.get(
            "HEARTH_MAINTAINER", "The Hearth developers <hearth@example.org>"
        ),
        "OTHER": "hearth-cuda" if variant == "cpu" else "hearth",
    }
    place(deb / "hearth", "usr/bin/hearth", 0o755)
    place(deb / "hearth-app", "usr/bin/hearth-app", 0o755)
    place(deb / "hearth.desktop", "usr/share/applications/hearth.desktop")
    place(
        deb / "io.hearth.Hearth.metainfo.xml",
        "usr/share/metainfo/io.hearth.Hearth.metainfo.xml",
        values=values,
    )
    place(deb / "hearth-mime.xml", "usr/share/mime/packages/hearth.xml")
    place(deb / "copyright", f"usr/share/doc/{package}/copyright")
    icons = ROOT / "resources" / "icons"
    for png in sorted(icons.glob("hearth-*.png")):
        size = png.stem.split("-")[-1]
        place(png, f"usr/share/icons/hicolor/{size}x{size}/apps/hearth.png")
    if (icons / "hearth.svg").exists():
        place(icons / "hearth.svg", "usr/share/icons/hicolor/scalable/apps/hearth.svg")

    installed_kib = (_tree_size(root) + 1023) // 1024
    values["INSTALLED_SIZE"] = str(installed_kib)
    place(deb / "control", "DEBIAN/control", values=values)
    place(deb / "postinst", "DEBIAN/postinst", 0o755)
    place(deb / "postrm", "DEBIAN/postrm", 0o755)

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{package}_{version}_{arch}.deb"
    level = os.environ.get("HEARTH_DEB_LEVEL", "9")
    run(["dpkg-deb", "--root-owner-group", "-Zzstd", f"-z{level}", "--build", str(root), str(out)])
    log(f"{out}: {out.stat().st_size / 2**20:,.0f} MiB, installs {installed_kib / 1024:,.0f} MiB")
    return out


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# --- command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("all", "llama", "bundle", "deb", "report"))
    p.add_argument("--variant", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args(argv)
    started = time.monotonic()
    try:
        if args.step == "llama":
            build_llama(args.variant)
        elif args.step == "bundle":
            build_bundle(args.variant)
        elif args.step == "deb":
            build_deb(args.variant)
        elif args.step == "report":
            report(DIST / args.variant / "hearth")
        else:
            build_bundle(args.variant)
            if sys.platform.startswith("linux") and shutil.which("dpkg-deb"):
                build_deb(args.variant)
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    log(f"finished in {(time.monotonic() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
