"""The network guard itself: outside connections fail, loopback works, children are guarded."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from support import netguard


def test_outside_connection_is_refused() -> None:
    before = len(netguard.violations)
    with pytest.raises(netguard.OutsideNetworkAccess):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    with pytest.raises(netguard.OutsideNetworkAccess):
        socket.getaddrinfo("huggingface.co", 443)
    # These were expected: take them back so the autouse check does not fail this test.
    del netguard.violations[before:]


def test_loopback_is_allowed() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    conn, _ = server.accept()
    client.sendall(b"ok")
    assert conn.recv(2) == b"ok"
    for s in (client, conn, server):
        s.close()


def test_child_processes_are_guarded() -> None:
    code = "import socket; socket.create_connection(('1.1.1.1', 443), timeout=1)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "network guard" in proc.stderr


def test_the_fine_tuning_stack_imports_without_a_word_about_the_hub() -> None:
    """sentence-transformers imports peft and bitsandbytes, which on a CPU with bfloat16 asks
    for CPU kernels from the Hugging Face hub: offline, that must not reach the user's
    terminal on every start."""
    code = (
        "from engine.offline import go_offline; go_offline(); import logging; "
        "logging.basicConfig(level=logging.WARNING); import peft, bitsandbytes"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    said = proc.stderr.lower()
    assert "hugging face hub" not in said and "kernels-community" not in said, proc.stderr
