"""What the About box and `hearth --version`-style reports show: version, data folder, GPU offload,
and the components Hearth bundles with their licenses.

The component list is read from `THIRD_PARTY.md` (packaging/licenses/ in a checkout, licenses/ in
the installed bundle), so the About box and the shipped license summary never disagree. Nothing
here loads a heavy library except the GPU probe, which asks llama.cpp and is only run on demand.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROJECT_LICENSE = "AGPL-3.0-or-later"
SOURCE_NOTE = (
    "Hearth is free software under the GNU Affero General Public License, version 3 or later. "
    "You may have its source code; it fits PyMuPDF's AGPL-3.0 license."
)


@dataclass(frozen=True)
class Component:
    """One bundled component and its license."""

    name: str
    distribution: str
    license: str
    purpose: str
    version: str | None = None


# Used only when THIRD_PARTY.md is not found (an install made from a wheel without packaging/).
_FALLBACK = (
    Component("PyMuPDF (MuPDF)", "pymupdf", "AGPL-3.0", "reading and showing PDF files"),
    Component("Qt 6 (via PySide6)", "PySide6", "LGPL-3.0-only", "the desktop window"),
    Component("llama.cpp (ggml)", "llama_cpp_python", "MIT", "running the local chat model"),
    Component("PyTorch", "torch", "BSD-3-Clause", "the embedding model and fine-tuning"),
    Component("sentence-transformers", "sentence-transformers", "Apache-2.0", "embeddings"),
    Component("FAISS", "faiss-cpu", "MIT", "the vector index"),
    Component("unstructured", "unstructured", "Apache-2.0", "reading Office and web files"),
)


def licenses_dir() -> Path:
    """The folder with THIRD_PARTY.md and the AGPL text: in the bundle, or in the checkout."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "licenses"
    return Path(__file__).resolve().parent.parent / "packaging" / "licenses"


def hearth_version() -> str:
    """The installed version of Hearth (package metadata, else the engine's own constant)."""
    from engine import __version__

    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:
        return __version__


def _version_of(distribution: str) -> str | None:
    if distribution == "python":
        return platform.python_version()
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    except ValueError:  # an unusual distribution name
        return None


def parse_components(text: str) -> list[Component]:
    """Rows of the Markdown table in THIRD_PARTY.md: Component | Distribution | License | Used for."""
    rows: list[Component] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 4 or cells[0] == "Component" or set(cells[0]) <= {"-", ":"}:
            continue
        rows.append(Component(*cells))
    return rows


def components(*, with_versions: bool = True) -> list[Component]:
    """The bundled components with their licenses, and their versions where installed."""
    path = licenses_dir() / "THIRD_PARTY.md"
    try:
        found = parse_components(path.read_text(encoding="utf-8"))
    except OSError:
        found = []
    listed = found or list(_FALLBACK)
    if not with_versions:
        return listed
    return [
        Component(c.name, c.distribution, c.license, c.purpose, _version_of(c.distribution))
        for c in listed
    ]


def gpu_offload() -> bool | None:
    """Whether this build of llama.cpp can offload layers to a GPU; None when it cannot be asked."""
    try:
        from engine.llm.runtime import gpu_offload_available

        return bool(gpu_offload_available())
    except Exception:  # a broken or missing llama.cpp must not keep the About box from opening
        return None


def about_info(*, probe_gpu: bool = True) -> dict[str, Any]:
    """Everything the About box shows, as plain data.

    Keys: name, version, license, source_note, data_folder, gpu_offload (True, False or None for
    unknown), gpu_offload_text, installed (True in the packaged application), python, platform,
    license_files (name -> path of the texts that exist), components (list of dicts with name,
    distribution, version, license, purpose).
    """
    from engine.config import default_home

    gpu = gpu_offload() if probe_gpu else None
    if gpu is True:
        gpu_text = "available: chat models are offloaded to the GPU"
    elif gpu is False:
        gpu_text = "not available in this build: chat runs on the CPU"
    else:
        gpu_text = "unknown (llama.cpp could not be asked)"
    lic = licenses_dir()
    files = {
        label: str(lic / name)
        for label, name in (
            ("Hearth (AGPL-3.0)", "AGPL-3.0.txt"),
            ("Third parties", "THIRD_PARTY.md"),
        )
        if (lic / name).is_file()
    }
    return {
        "name": "Hearth",
        "version": hearth_version(),
        "license": PROJECT_LICENSE,
        "source_note": SOURCE_NOTE,
        "data_folder": str(default_home()),
        "gpu_offload": gpu,
        "gpu_offload_text": gpu_text,
        "installed": bool(getattr(sys, "frozen", False)),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "license_files": files,
        "components": [asdict(c) for c in components()],
    }
