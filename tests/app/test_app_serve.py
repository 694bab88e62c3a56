"""The API switch in Settings and "Add remote…" in the models dialog, in the real window."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
from PySide6.QtWidgets import QApplication

from app.dialogs import ModelsDialog, SettingsDialog
from app.remote_models import RemoteModelDialog
from app.serve_settings import ServeSwitch, endpoints_html, serve_controller

WAIT_MS = 60_000


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_settings_switch_serves_the_api_on_the_model_lane(
    open_window,
    qtbot,
    tiny_gguf: Path,
    shot,
) -> None:
    window = open_window()
    window.hearth.add_model(tiny_gguf, name="tiny")
    window.models.refresh()
    dialog = SettingsDialog(
        window.hearth.settings,
        manager=window.models,
        collection=None,
        embedding_model=None,
        parent=window,
    )
    switch = dialog.findChild(ServeSwitch)
    assert switch is not None and not switch.switch.isChecked()
    controller = serve_controller(window.models)
    switch.port.setValue(_free_port())
    switch.switch.setChecked(True)
    qtbot.waitUntil(
        lambda: controller.url is not None and controller.url in switch.address.text(),
        timeout=WAIT_MS,
    )
    shot(dialog, "settings-api-serving")

    # The client runs on a plain thread; the model job runs on the window's MODEL lane, which
    # needs the Qt event loop: run the request in a thread and keep processing events here.
    import threading

    answers: list[str] = []

    def ask() -> None:
        client = openai.OpenAI(base_url=controller.url, api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        answers.append(reply.choices[0].message.content or "")

    thread = threading.Thread(target=ask)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=WAIT_MS)
    assert answers and answers[0]

    url = controller.url
    switch.switch.setChecked(False)
    assert controller.state == "stopped"
    try:
        httpx.get(f"{url}/models", timeout=2)
        raise AssertionError("the server still answers after the switch went off")
    except httpx.TransportError:
        pass
    dialog.reject()


def test_add_remote_from_the_models_dialog(open_window, qtbot) -> None:
    window = open_window()
    models = ModelsDialog(window.models, window)
    remote = RemoteModelDialog(window.models, models)
    remote.name.setText("gpu box")
    remote.url.setText("not an address")
    remote.buttons.accepted.emit()
    qtbot.waitUntil(lambda: not remote.problem.isHidden(), timeout=WAIT_MS)
    assert "not a server address" in remote.problem.text()

    remote.url.setText("http://192.168.1.20:8080/v1")
    remote.key_env.setText("GPU_KEY")
    remote.buttons.accepted.emit()
    qtbot.waitUntil(lambda: "gpu box" in window.models.model.names(), timeout=WAIT_MS)
    assert window.hearth.model_info("gpu box").api_key_env == "GPU_KEY"
    assert "192.168.1.20:8080" in endpoints_html(window.hearth)
    QApplication.processEvents()
    models.reject()
