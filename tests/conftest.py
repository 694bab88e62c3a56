"""Test-wide set-up: offline, a private Hearth home per test, and a network guard.

The guard is installed before anything else is imported and stays on for the whole run: any
connection to an address outside loopback fails the test that made it. Child processes
(the trainer) get the same guard through `tests/support/netguard/sitecustomize.py`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from support import netguard  # noqa: E402

netguard.install()
# Children inherit the guard: sitecustomize runs at interpreter start-up.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(TESTS / "support" / "netguard"), *filter(None, [os.environ.get("PYTHONPATH")])]
)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.offline import go_offline  # noqa: E402

go_offline()

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def hearth_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty Hearth home, so none can touch the user's data."""
    home = tmp_path_factory.mktemp("hearth-home")
    monkeypatch.setenv("HEARTH_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _no_network_violations() -> Iterator[None]:
    """Fail a test that attempted an outside connection, even if the error was swallowed."""
    before = len(netguard.violations)
    yield
    new = netguard.violations[before:]
    if new:
        pytest.fail(f"outside network access attempted: {new}")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files for people to look at (screenshots); printed at the end."""
    path = Path(os.environ.get("HEARTH_TEST_ARTIFACTS", TESTS.parent / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The desktop app's tests are the `gui` tier: `pytest -m "not slow and not gui"` is the
    quick loop; CI runs everything."""
    app_tests = TESTS / "app"
    for item in items:
        if app_tests in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gui)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    path = Path(os.environ.get("HEARTH_TEST_ARTIFACTS", TESTS.parent / "test-artifacts"))
    if path.exists() and any(path.iterdir()):
        terminalreporter.write_line(f"screenshots and other artifacts: {path}")
