"""The data behind the About box: version, data folder, GPU offload, bundled licenses."""

from __future__ import annotations

from pathlib import Path

import engine
from engine.about import about_info, components, licenses_dir, parse_components


def test_about_info_names_version_data_folder_and_license(hearth_home: Path) -> None:
    info = about_info(probe_gpu=False)
    assert info["name"] == "Hearth"
    assert info["version"] == engine.__version__
    assert info["license"] == "AGPL-3.0-or-later"
    assert Path(info["data_folder"]) == hearth_home.resolve()
    assert info["installed"] is False  # a checkout, not the packaged application
    assert info["gpu_offload"] is None
    assert "unknown" in info["gpu_offload_text"]


def test_gpu_offload_is_asked_of_llama_cpp() -> None:
    from engine.llm.runtime import gpu_offload_available

    info = about_info()
    assert info["gpu_offload"] is gpu_offload_available()
    assert info["gpu_offload_text"].startswith(("available", "not available"))


def test_components_come_from_the_shipped_license_summary() -> None:
    listed = {c.name: c for c in components()}
    pymupdf = listed["PyMuPDF (MuPDF)"]
    assert pymupdf.license == "AGPL-3.0"
    assert pymupdf.version is not None  # installed here, so its version is shown
    assert listed["Qt 6 (via PySide6)"].license.startswith("LGPL")
    assert listed["Python"].version and listed["Python"].version[0] == "3"
    for c in listed.values():
        assert c.license and c.purpose and c.distribution


def test_license_texts_are_found() -> None:
    files = about_info(probe_gpu=False)["license_files"]
    agpl = Path(files["Hearth (AGPL-3.0)"]).read_text(encoding="utf-8")
    assert agpl.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in agpl
    assert Path(files["Third parties"]).parent == licenses_dir()


def test_parse_components_skips_header_separator_and_prose() -> None:
    text = (
        "Some prose | with a bar.\n\n"
        "| Component | Distribution | License | Used for |\n"
        "|-----------|--------------|---------|----------|\n"
        "| FAISS | faiss-cpu | MIT | the vector index |\n"
        "| broken | row |\n"
    )
    rows = parse_components(text)
    assert [(r.name, r.distribution, r.license, r.purpose) for r in rows] == [
        ("FAISS", "faiss-cpu", "MIT", "the vector index")
    ]
