"""Installs the network guard in every Python process started by the tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from support import netguard

netguard.install()
