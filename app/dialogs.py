"""Dialogs: a new collection, the installed models, the settings, and the About box."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app import icons
from app.chatmodels import ModelManager
from app.layouts import nested
from app.models import ItemRole
from app.remote_models import add_remote_button, remote_details
from app.serve_settings import ServeSwitch, serve_controller
from app.text import human_count, human_size
from engine.config import Settings
from engine.facade import DEFAULT_EMBEDDING_MODEL, Hearth

if TYPE_CHECKING:
    from engine.llm.registry import ModelInfo


GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"


def pick_gguf(parent: QWidget) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Add a chat model", str(Path.home()), GGUF_FILTER)
    return Path(path) if path else None


class NewCollectionDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, *, existing: list[str] = ()) -> None:  # type: ignore[assignment]
        super().__init__(parent)
        self.setWindowTitle("New collection")
        self.existing = {n.casefold() for n in existing}
        lay = QVBoxLayout(self)
        intro = QLabel(
            "A collection is a set of documents you ask questions about together, "
            "for example the manuals of your house or the papers of a project.",
            self,
        )
        intro.setWordWrap(True)
        intro.setObjectName("Muted")
        lay.addWidget(intro)
        form = nested(lay, QFormLayout())
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("e.g. House manuals")
        form.addRow("Name", self.name)
        self.embedding = EmbeddingChooser(DEFAULT_EMBEDDING_MODEL, self)
        form.addRow("Embedding model", self.embedding)
        self.problem = QLabel(self)
        self.problem.setObjectName("Error")
        self.problem.hide()
        lay.addWidget(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.resize(460, self.sizeHint().height())

    def _accept(self) -> None:
        name = self.name.text().strip()
        if not name:
            self._problem("Give the collection a name.")
        elif name.casefold() in self.existing:
            self._problem(f"A collection named “{name}” already exists.")
        else:
            self.accept()

    def _problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()


class EmbeddingChooser(QWidget):
    """The bundled embedding model or a local sentence-transformers folder."""

    def __init__(self, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox(self)
        self.combo.setEditable(True)
        self.combo.addItem(DEFAULT_EMBEDDING_MODEL)
        if current != DEFAULT_EMBEDDING_MODEL:
            self.combo.addItem(current)
        self.combo.setCurrentText(current)
        self.combo.setToolTip(
            f"'{DEFAULT_EMBEDDING_MODEL}' ships with Hearth. Any other model must be a "
            "sentence-transformers folder on this computer."
        )
        browse = QPushButton(icons.icon("folder"), "Browse…", self)
        browse.clicked.connect(self._browse)
        lay.addWidget(self.combo, 1)
        lay.addWidget(browse)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a sentence-transformers model folder"
        )
        if folder:
            self.combo.setCurrentText(folder)

    def value(self) -> str:
        return self.combo.currentText().strip() or DEFAULT_EMBEDDING_MODEL


class ModelsDialog(QDialog):
    """Installed GGUF models: add, remove, choose the one for chat, see what each is."""

    def __init__(self, manager: ModelManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.setWindowTitle("Chat models")
        self.resize(780, 460)
        lay = QVBoxLayout(self)
        lay.setSpacing(10)
        intro = QLabel(
            "Hearth writes answers with a GGUF model on this computer (for example a 1–8B "
            "instruct model in Q4_K_M). The file stays where it is; Hearth only remembers it. "
            "You can also drop a .gguf file on the main window.",
            self,
        )
        intro.setWordWrap(True)
        intro.setObjectName("Muted")
        lay.addWidget(intro)
        self.table = QTableView(self)
        self.table.setModel(manager.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft)
        self.table.doubleClicked.connect(lambda _: self._use())
        lay.addWidget(self.table, 1)
        self.details = QLabel(self)
        self.details.setObjectName("Muted")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.details)
        row = nested(lay, QHBoxLayout())
        self.add_button = QPushButton(icons.icon("plus"), "Add model…", self)
        self.add_button.clicked.connect(self._add)
        self.remove_button = QPushButton(icons.icon("trash"), "Remove", self)
        self.remove_button.clicked.connect(self._remove)
        self.use_button = QPushButton(icons.icon("check"), "Use for chat", self)
        self.use_button.clicked.connect(self._use)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        for b in (self.add_button, self.remove_button, self.use_button):
            row.addWidget(b)
        row.insertWidget(1, add_remote_button(manager, self))  # app/remote_models.py
        row.addStretch(1)
        row.addWidget(close)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        manager.model.modelReset.connect(self._selected)
        manager.model.dataChanged.connect(self._selected)
        self._selected()

    def _current(self) -> ModelInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.manager.model.data(rows[0], ItemRole) if rows else None

    def _selected(self, *_: object) -> None:
        m = self._current()
        self.remove_button.setEnabled(m is not None)
        self.use_button.setEnabled(m is not None and m.name != self.manager.current)
        if m is None:
            if not self.manager.has_model:
                self.details.setText(
                    "No model installed yet. Without one, answers show the best matching "
                    "passages, each cited."
                )
            else:
                self.details.setText("Select a model to see its details.")
            return
        if m.is_remote:  # app/remote_models.py
            self.details.setText(remote_details(m))
            return
        lines = [
            f"<b>{m.name}</b> — {m.architecture or 'unknown'} architecture, "
            f"{human_count(m.parameters)} parameters, {m.quantization or 'unknown'} quantization, "
            f"{human_size(m.size_bytes)}, trained context {m.context_length:,} tokens.",
            f"File: {m.path}",
        ]
        if m.adapter:
            lines.append(f"Adapter: {m.adapter} on “{m.base}”")
        if m.kind == "base":
            lines.append(
                f"A base model ({m.kind_reason}): it is prompted as plain text completion, "
                "passages first, then the question. Instruct models answer better."
            )
        elif not m.chat_template:
            lines.append(
                "This file has no chat template: llama.cpp's built-in template for its "
                "architecture is used."
            )
        self.details.setText("<br>".join(lines))

    def _add(self) -> None:
        path = pick_gguf(self)
        if path is not None:
            self.manager.add(path)

    def _remove(self) -> None:
        m = self._current()
        if m is not None:
            self.manager.remove(m.name)

    def _use(self) -> None:
        m = self._current()
        if m is not None:
            self.manager.use(m.name)


class SettingsDialog(QDialog):
    """Answer settings, appearance and the current collection's embedding model."""

    def __init__(
        self,
        settings: Settings,
        *,
        manager: ModelManager,
        collection: str | None,
        embedding_model: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.result_settings: Settings | None = None
        self.collection = collection
        lay = QVBoxLayout(self)
        lay.setSpacing(10)
        form = nested(lay, QFormLayout())
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)

        self.model = QComboBox(self)
        self.model.addItem("First installed model", None)
        for name in manager.model.names():
            self.model.addItem(name, name)
        ix = self.model.findData(settings.chat_model)
        self.model.setCurrentIndex(max(0, ix))
        form.addRow(_section("Answers"))
        form.addRow("Chat model", self.model)

        self.gpu_layers = QSpinBox(self)
        self.gpu_layers.setRange(-1, 1000)
        self.gpu_layers.setSpecialValueText("All layers")
        self.gpu_layers.setValue(settings.gpu_layers)
        self.gpu_note = QLabel("Checking whether this build can use a GPU…", self)
        self.gpu_note.setObjectName("Muted")
        self.gpu_note.setWordWrap(True)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("", self.gpu_note)
        manager.gpuChecked.connect(self._gpu_checked)
        manager.check_gpu()

        self.context = QSpinBox(self)
        self.context.setRange(256, 131_072)
        self.context.setSingleStep(512)
        self.context.setSuffix(" tokens")
        self.context.setValue(settings.context_length)
        form.addRow("Context length", self.context)

        self.temperature = QDoubleSpinBox(self)
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setValue(settings.temperature)
        self.temperature.setToolTip("Low values keep answers close to the sources.")
        form.addRow("Temperature", self.temperature)

        self.passages = QSpinBox(self)
        self.passages.setRange(1, 50)
        self.passages.setValue(settings.passages)
        self.passages.setToolTip(
            "How many passages the model reads for an answer. More can help, but on a CPU every "
            "passage lengthens the wait before the answer starts."
        )
        form.addRow("Passages per answer", self.passages)

        self.max_tokens = QSpinBox(self)
        self.max_tokens.setRange(16, 32_768)
        self.max_tokens.setSingleStep(64)
        self.max_tokens.setSuffix(" tokens")
        self.max_tokens.setValue(settings.max_answer_tokens)
        form.addRow("Longest answer", self.max_tokens)

        form.addRow(_section("Appearance"))
        self.theme = QComboBox(self)
        for label, value in (("Follow the system", "system"), ("Light", "light"), ("Dark", "dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(
            max(0, self.theme.findData(settings.extra.get("theme", "system")))
        )
        form.addRow("Theme", self.theme)

        form.addRow(_section("API"))  # app/serve_settings.py
        form.addRow(ServeSwitch(serve_controller(manager), self))

        self.embedding: EmbeddingChooser | None = None
        if collection is not None:
            form.addRow(_section(f"Collection “{collection}”"))
            self.embedding = EmbeddingChooser(embedding_model or DEFAULT_EMBEDDING_MODEL, self)
            self.original_embedding = embedding_model or DEFAULT_EMBEDDING_MODEL
            form.addRow("Embedding model", self.embedding)
            note = QLabel("Changing it re-embeds every passage of this collection.", self)
            note.setObjectName("Muted")
            form.addRow("", note)
        self.problem = QLabel(self)
        self.problem.setObjectName("Error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        lay.addWidget(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    def _gpu_checked(self, available: bool) -> None:
        if available:
            self.gpu_note.setText("This build of llama.cpp can offload layers to the GPU.")
        else:
            self.gpu_note.setText(
                "This build of llama.cpp runs on the CPU only; the setting applies once a GPU "
                "build is installed."
            )

    def new_embedding_model(self) -> str | None:
        """The embedding model chosen for the collection, if it changed."""
        if self.embedding is None:
            return None
        value = self.embedding.value()
        return value if value != self.original_embedding else None

    def _accept(self) -> None:
        extra = dict(self.settings.extra)
        extra["theme"] = self.theme.currentData()
        try:
            self.result_settings = replace(
                self.settings,
                chat_model=self.model.currentData(),
                gpu_layers=self.gpu_layers.value(),
                context_length=self.context.value(),
                temperature=round(self.temperature.value(), 2),
                passages=self.passages.value(),
                max_answer_tokens=self.max_tokens.value(),
                extra=extra,
            )
        except ValueError as exc:
            self.problem.setText(str(exc).capitalize() + ".")
            self.problem.show()
            return
        self.accept()


def _section(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("SectionLabel")
    label.setContentsMargins(0, 8, 0, 0)
    return label


class AboutDialog(QDialog):
    """Version, license, what Hearth bundles and under which licenses, where data lives."""

    def __init__(
        self, hearth: Hearth, *, gpu_available: bool | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        import html

        from PySide6.QtWidgets import QTextBrowser

        from app.serve_settings import endpoints_html
        from engine.about import about_info

        info = about_info(probe_gpu=False)  # the GPU answer comes from the model thread
        if gpu_available is None:
            gpu_text = "not checked yet (it is when a model first loads)"
        elif gpu_available:
            gpu_text = "available — chat models are offloaded to the GPU"
        else:
            gpu_text = "not available in this build — chat runs on the CPU"
        rows = "".join(
            f"<tr><td>{html.escape(c['name'])}</td><td>{html.escape(c.get('version') or '')}</td>"
            f"<td>{html.escape(c['license'])}</td></tr>"
            for c in info["components"]
        )
        files = "".join(
            f'<li><a href="file://{html.escape(path)}">{html.escape(label)}</a></li>'
            for label, path in info["license_files"].items()
        )
        self.setWindowTitle("About Hearth")
        self.resize(560, 600)
        text = QTextBrowser(self)
        text.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
        text.setHtml(
            f"<h3>Hearth {html.escape(info['version'])}</h3>"
            "<p>Private, offline document chat on your own computer. Your documents, questions "
            "and answers never leave it.</p>"
            f"<p><b>Data folder:</b> {html.escape(str(hearth.paths.home))}<br>"
            f"<b>GPU offload:</b> {gpu_text}</p>"
            f"<p>{endpoints_html(hearth)}</p>"
            f"<p>{html.escape(info['source_note'])}</p>"
            f"<ul>{files}</ul>"
            "<p><b>Bundled components</b></p>"
            f"<table cellspacing='4'><tr><th align='left'>Component</th>"
            f"<th align='left'>Version</th><th align='left'>License</th></tr>{rows}</table>",
        )
        self.text = text
