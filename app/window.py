"""Hearth's main window: side panel, chat and documents, indexing progress, drops anywhere.

The window wires views to the controllers (`Library`, `ChatSession`, `ModelManager`) and turns
user intent into their calls. It keeps no domain state of its own: what it shows lives in the
controllers' Qt models.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.chat_page import ChatPage
from app.chatmodels import ModelManager
from app.dialogs import AboutDialog, ModelsDialog, NewCollectionDialog, SettingsDialog, pick_gguf
from app.documents_view import DocumentsView
from app.layouts import nested
from app.library import Library
from app.links_view import FolderWatch, LinkedFoldersView
from app.progress_view import IngestPanel
from app.session import ChatSession
from app.sidebar import Sidebar
from app.text import plural
from app.viewer import DocumentViewer
from app.welcome import WelcomePage
from app.worker import Runner, Task
from engine.chat.verify import narrowed_hit
from engine.facade import SAMPLE_COLLECTION, Hearth

if TYPE_CHECKING:
    from PySide6.QtCore import QModelIndex
    from PySide6.QtGui import QDragLeaveEvent, QDragMoveEvent


log = logging.getLogger(__name__)


class MessageBar(QFrame):
    """An error shown in the window until dismissed (errors never go to stderr alone)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ErrorBanner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 6, 8)
        icon = QLabel(self)
        icon.setPixmap(icons.icon("warning", theme.colors().danger).pixmap(20, 20))
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setIcon(icons.icon("close"))
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(self.text, 1)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str) -> None:
        self.text.setText(text)
        self.show()


class DropOverlay(QFrame):
    """Covers the window while files are dragged over it and says what a drop will do."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.window_widget = parent
        self.setObjectName("DropOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        icon = QLabel(self)
        icon.setPixmap(icons.icon("upload", theme.colors().accent).pixmap(56, 56))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label = QLabel(self)
        self.label.setObjectName("Hero")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        lay.addWidget(icon)
        lay.addWidget(self.label)
        lay.addStretch(1)
        self.hide()

    def show_for(self, text: str, area: QWidget) -> None:
        """Cover `area` (a widget of the same window) while the drag lasts."""
        self.label.setText(text)
        top_left = area.mapTo(self.window_widget, area.rect().topLeft())
        self.setGeometry(
            top_left.x() + 12, top_left.y() + 12, area.width() - 24, area.height() - 24
        )
        self.raise_()
        self.show()


class CollectionHeader(QWidget):
    """The selected collection's name and counts, with its main actions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(24, 14, 20, 6)
        col = nested(lay, QVBoxLayout(), 1)
        col.setSpacing(0)
        self.title = QLabel(self)
        self.title.setObjectName("Title")
        self.subtitle = QLabel(self)
        self.subtitle.setObjectName("Muted")
        col.addWidget(self.title)
        col.addWidget(self.subtitle)
        self.new_chat = QPushButton(icons.icon("chat"), "New chat", self)
        self.new_chat.setToolTip("Start a new conversation (Ctrl+N)")
        self.add = QPushButton(
            icons.icon("plus", theme.colors().accent_text), "Add documents", self
        )
        self.add.setProperty("primary", True)
        lay.addWidget(self.new_chat)
        lay.addWidget(self.add)


class MainWindow(QMainWindow):
    """The one main window of Hearth."""

    def __init__(self, hearth: Hearth, runner: Runner | None = None) -> None:
        super().__init__()
        self.hearth = hearth
        self.runner = runner or Runner(self)
        self.library = Library(hearth, self.runner, self)
        self.session = ChatSession(hearth, self.runner, self)
        self.models = ModelManager(hearth, self.runner, self)
        self.links = FolderWatch(hearth, self.runner, self)  # linked folders (app/links_view.py)
        self.viewer: DocumentViewer | None = None
        self._syncing = False
        self._closed = False
        self._pending_conversation: Any = None
        self.setWindowTitle("Hearth")
        self.setWindowIcon(icons.app_icon())
        self.setAcceptDrops(True)
        self.resize(1240, 800)
        self.setMinimumSize(820, 560)
        self._build()
        self._menus()
        self._connect()
        self._restore()

    # --- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.sidebar = Sidebar(self.library.collections, self.session.conversations, self.splitter)
        main = QWidget(self.splitter)
        self.main_area = main
        lay = QVBoxLayout(main)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.error_bar = MessageBar(main)
        bar_row = nested(lay, QHBoxLayout())
        bar_row.setContentsMargins(20, 10, 20, 0)
        bar_row.addWidget(self.error_bar)
        self.stack = QStackedWidget(main)
        self.welcome = WelcomePage(self.stack)
        self.collection_page = QWidget(self.stack)
        page = QVBoxLayout(self.collection_page)
        page.setContentsMargins(0, 0, 0, 0)
        page.setSpacing(0)
        self.header = CollectionHeader(self.collection_page)
        page.addWidget(self.header)
        self.tabs = QTabWidget(self.collection_page)
        self.tabs.setDocumentMode(True)
        self.chat = ChatPage(self.session.messages, self.session.sources, self.tabs)
        self.documents = DocumentsView(self.library.documents, self.tabs)
        self.tabs.addTab(self.chat, icons.icon("chat"), "Chat")
        self.tabs.addTab(self.documents, icons.icon("file"), "Documents")
        self.folders = LinkedFoldersView(self.links, self.tabs)
        self.tabs.addTab(self.folders, icons.icon("folder"), "Folders")
        self.tabs.tabBar().setContentsMargins(20, 0, 0, 0)
        page.addWidget(self.tabs, 1)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.collection_page)
        lay.addWidget(self.stack, 1)
        self.ingest_panel = IngestPanel(self.library.ingest_model, main)
        panel_row = nested(lay, QHBoxLayout())
        panel_row.setContentsMargins(20, 0, 20, 12)
        panel_row.addWidget(self.ingest_panel)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(main)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 980])
        self.setCentralWidget(self.splitter)
        self.overlay = DropOverlay(self)  # not a child of the splitter: it would become a pane
        self.model_status = QLabel(self)
        self.model_status.setObjectName("Muted")
        self.statusBar().addPermanentWidget(self.model_status)
        self.statusBar().setSizeGripEnabled(False)

    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.act_new_collection = file.addAction(
            icons.icon("plus"), "New collection…", self.new_collection
        )
        file.addAction(icons.icon("file"), "Add files…", self.add_files_dialog)
        file.addAction(icons.icon("folder"), "Add folder…", self.add_folder_dialog)
        file.addAction(icons.icon("book"), "Open sample documents", self.open_samples)
        file.addSeparator()
        file.addAction(icons.icon("chip"), "Add model…", self.add_model_dialog)
        file.addSeparator()
        quit_action = file.addAction("Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)

        chat = bar.addMenu("&Chat")
        self.act_new_chat = QAction(icons.icon("chat"), "New chat", self)
        self.act_new_chat.setShortcut(QKeySequence("Ctrl+N"))
        self.act_new_chat.triggered.connect(self.new_chat)
        chat.addAction(self.act_new_chat)
        self.act_stop = QAction(icons.icon("stop"), "Stop answer", self)
        self.act_stop.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.act_stop.triggered.connect(self.stop)
        chat.addAction(self.act_stop)
        chat.addAction(icons.icon("refresh"), "Write the answer again", self.session.regenerate)

        coll = bar.addMenu("C&ollection")
        coll.addAction(
            icons.icon("edit"), "Rename…", lambda: self.rename_collection(self.library.current)
        )
        coll.addAction(icons.icon("refresh"), "Re-sync", lambda: self.library.resync())
        coll.addAction(
            icons.icon("trash"), "Delete…", lambda: self.delete_collection(self.library.current)
        )

        tools = bar.addMenu("&Tools")
        tools.addAction(icons.icon("chip"), "Models…", self.open_models)
        tools.addAction(icons.icon("chip"), "Fine-tune a model…", self.open_fine_tune)
        settings = tools.addAction(icons.icon("gear"), "Settings…", self.open_settings)
        settings.setShortcut(QKeySequence.StandardKey.Preferences)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction("About Hearth", self.about)

    def _connect(self) -> None:
        lib, ses, mdl = self.library, self.session, self.models
        for source in (lib, ses, mdl):
            source.error.connect(self.show_error)
            source.message.connect(self.show_message)
        lib.currentChanged.connect(self._collection_changed)
        lib.collections.modelReset.connect(self._collections_reset)
        lib.collections.dataChanged.connect(lambda *_: self._update_header())
        lib.documents.modelReset.connect(self._update_header)
        lib.ingestFinished.connect(self._ingest_finished)
        self.ingest_panel.cancelRequested.connect(lib.cancel_ingest)

        self.links.error.connect(self.show_error)
        self.links.message.connect(self.show_message)
        self.links.documentsChanged.connect(lib._refresh_soon)
        lib.currentChanged.connect(self.folders.set_collection)
        self.sidebar.collections.selectionModel().currentChanged.connect(self._sidebar_collection)
        self.sidebar.conversations.clicked.connect(self._sidebar_conversation)
        self.sidebar.newCollection.connect(self.new_collection)
        self.sidebar.renameCollection.connect(self.rename_collection)
        self.sidebar.deleteCollection.connect(self.delete_collection)
        self.sidebar.resyncCollection.connect(lambda name: lib.resync(name))
        self.sidebar.newChat.connect(self.new_chat)
        self.sidebar.renameConversation.connect(self.rename_conversation)
        self.sidebar.deleteConversation.connect(self.delete_conversation)
        self.sidebar.openModels.connect(self.open_models)
        self.sidebar.openSettings.connect(self.open_settings)
        ses.conversations.modelReset.connect(self._select_conversation_row)
        ses.conversationChanged.connect(lambda _: self._select_conversation_row())
        ses.busyChanged.connect(self.chat.composer.set_busy)

        self.welcome.openSamples.connect(self.open_samples)
        self.welcome.drop.addFiles.connect(self.add_files_dialog)
        self.welcome.drop.addFolder.connect(self.add_folder_dialog)
        self.header.add.clicked.connect(self.add_files_dialog)
        self.header.new_chat.clicked.connect(self.new_chat)
        self.documents.addFiles.connect(self.add_files_dialog)
        self.documents.addFolder.connect(self.add_folder_dialog)
        self.documents.resync.connect(lambda: lib.resync())
        self.documents.removeRequested.connect(self.remove_documents)

        self.chat.composer.submitted.connect(self.ask)
        self.chat.composer.stopRequested.connect(self.stop)
        self.chat.empty.suggestion.connect(self.ask)
        self.chat.view.citationClicked.connect(self.open_citation)
        self.chat.view.checkClicked.connect(self.open_check)
        self.chat.view.copyRequested.connect(self.copy_message)
        self.chat.view.regenerateRequested.connect(lambda _: ses.regenerate())
        self.chat.view.sourcesRequested.connect(ses.show_sources)
        self.chat.sources.sourceActivated.connect(self.open_source)
        self.chat.banner.addModel.connect(self.add_model_dialog)
        mdl.changed.connect(self._models_changed)
        self.chat.model_menu.aboutToShow.connect(self._fill_model_menu)
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(lambda _: self.apply_theme())

    def _restore(self) -> None:
        extra = self.hearth.settings.extra
        geometry = extra.get("window_geometry")
        if isinstance(geometry, str):
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode()))
        split = extra.get("window_splitter")
        if isinstance(split, str):
            self.splitter.restoreState(QByteArray.fromBase64(split.encode()))
        self.library.refresh()
        names = self.library.names()
        last = extra.get("last_collection")
        chosen = last if last in names else (names[0] if names else None)
        self._pending_conversation = extra.get("last_conversation")
        self.library.set_current(chosen)
        if chosen is None:
            self._collection_changed(None)
        self.models.refresh()
        self._models_changed()
        for problem in self.hearth.settings_problems:
            self.show_error(problem)
        self.links.start()

    # --- collections ------------------------------------------------------------------------

    def _collection_changed(self, name: str | None) -> None:
        self._syncing = True
        try:
            self.sidebar.select_collection(self.library.collections.row_of(name or ""))
        finally:
            self._syncing = False
        conversation, self._pending_conversation = self._pending_conversation, None
        self.session.set_collection(name, conversation=conversation)
        self._update_header()
        self._update_page()

    def _collections_reset(self) -> None:
        self._syncing = True
        try:
            self.sidebar.select_collection(
                self.library.collections.row_of(self.library.current or "")
            )
        finally:
            self._syncing = False
        self._update_page()
        self._update_header()

    def _sidebar_collection(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        self.library.set_current(current.data())

    def _update_page(self) -> None:
        has = self.library.current is not None and self.library.collections.rowCount() > 0
        self.stack.setCurrentWidget(self.collection_page if has else self.welcome)

    def _update_header(self) -> None:
        info = self.library.info()
        if info is None:
            name = self.library.current
            self.header.title.setText(name or "")
            self.header.subtitle.setText("")
            self.chat.empty.set_collection(name, 0, sample=False)
            self.setWindowTitle("Hearth")
            return
        parts = [plural(info.documents, "document"), plural(info.chunks, "passage")]
        if info.failed:
            parts.append(f"{info.failed} could not be read")
        state = self.library.busy_state(info.name)
        if state:
            parts.append(state)
        self.header.title.setText(info.name)
        self.header.subtitle.setText(" · ".join(parts))
        self.chat.empty.set_collection(
            info.name,
            info.documents,
            sample=info.name == SAMPLE_COLLECTION,
            indexing=bool(state),
            passages=info.chunks,
        )
        self.setWindowTitle(f"{info.name} — Hearth")

    def new_collection(self) -> None:
        dialog = NewCollectionDialog(self, existing=self.library.names())
        if dialog.exec():
            self.library.create(dialog.name.text(), embedding_model=dialog.embedding.value())

    def rename_collection(self, name: str | None) -> None:
        if not name:
            return
        new, ok = QInputDialog.getText(self, "Rename collection", "New name:", text=name)
        if ok:
            self.library.rename(name, new)

    def delete_collection(self, name: str | None) -> None:
        if not name:
            return
        if self.confirm(
            f"Delete the collection “{name}”?",
            "Its index and its conversations are removed. Your files are not touched.",
            "Delete",
        ):
            self.library.delete(name, on_done=lambda: self.session.forget_collection(name))

    def confirm(self, question: str, detail: str, action: str) -> bool:
        """Ask before something that cannot be undone (tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Hearth", question, parent=self)
        box.setInformativeText(detail)
        ok = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is ok

    # --- documents --------------------------------------------------------------------------

    def add_paths(self, paths: Sequence[Path | str], *, collection: str | None = None) -> None:
        """What a drop or Add… does: models are installed, everything else is indexed."""
        targets = [Path(p) for p in paths]
        models = [p for p in targets if p.suffix.lower() == ".gguf" and p.is_file()]
        docs = [p for p in targets if p not in models]
        for p in models:
            self.models.add(p)
        if docs:
            self.ingest_panel.files_button.setChecked(False)
            task = self.library.ingest(docs, collection=collection)
            # A dropped folder is linked once indexed, so the watcher never races this ingest.
            folders = [p for p in docs if p.is_dir()]
            name = collection or self.library.drop_target
            if folders:
                task.finished.connect(lambda: self._link_folders(folders, name, task))

    def _link_folders(self, folders: list[Path], collection: str, task: Task) -> None:
        if not task.cancelled:
            for folder in folders:
                self.links.link(folder, collection=collection)

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add documents", str(Path.home()))
        if files:
            self.add_paths(files)

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add a folder of documents", str(Path.home())
        )
        if folder:
            self.add_paths([folder])

    def open_samples(self) -> None:
        self.ingest_panel.files_button.setChecked(False)
        self.library.open_samples()

    def remove_documents(self, paths: list[Path]) -> None:
        names = ", ".join(p.name for p in paths[:3]) + ("…" if len(paths) > 3 else "")
        if self.confirm(
            f"Remove {plural(len(paths), 'document')} from “{self.library.current}”?",
            f"{names}\nThe files themselves stay where they are.",
            "Remove",
        ):
            self.library.remove_documents(paths)

    def _ingest_finished(self, summary: object) -> None:
        self._update_header()

    # --- chat -------------------------------------------------------------------------------

    def ask(self, text: str) -> bool:
        if self.session.ask(text):
            self.chat.composer.clear()
            self.tabs.setCurrentWidget(self.chat)
            return True
        return False

    def stop(self) -> None:
        self.session.stop()

    def new_chat(self) -> None:
        self.session.new_chat()
        self.tabs.setCurrentWidget(self.chat)
        self.chat.composer.edit.setFocus()

    def _sidebar_conversation(self, index: QModelIndex) -> None:
        info = index.data(Qt.ItemDataRole.UserRole + 1)
        if info is not None and info.id != self.session.conversation_id:
            self.session.open_conversation(info.id)
            self.tabs.setCurrentWidget(self.chat)

    def _select_conversation_row(self) -> None:
        row = self.session.conversations.row_of(self.session.conversation_id)
        self.sidebar.select_conversation(row)

    def rename_conversation(self, conversation_id: Any) -> None:
        row = self.session.conversations.row_of(conversation_id)
        if row < 0:
            return
        title = self.session.conversations.item(row).title
        new, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=title)
        if ok:
            self.session.rename_conversation(conversation_id, new)

    def delete_conversation(self, conversation_id: Any) -> None:
        row = self.session.conversations.row_of(conversation_id)
        title = self.session.conversations.item(row).title if row >= 0 else "this conversation"
        if self.confirm(f"Delete “{title}”?", "The conversation cannot be restored.", "Delete"):
            self.session.delete_conversation(conversation_id)

    def copy_message(self, row: int) -> None:
        msg = self.session.messages.item(row)
        QGuiApplication.clipboard().setText(msg.text)
        self.show_message("Answer copied.")

    def open_citation(self, row: int, n: int) -> None:
        """A click on [n] in the answer at `row`: show its sources and open passage n."""
        self.session.show_sources(row)
        if 1 <= n <= self.session.sources.rowCount():
            self.chat.sources.select(n - 1)
            self.open_source(n - 1)

    def open_check(self, row: int, index: int) -> None:
        """A click on a checked sentence of the answer at `row`: open its passage at the span
        that backs it."""
        self.session.show_sources(row)
        msg = self.session.messages.item(row)
        if not 0 <= index < len(msg.checks):
            return
        check = msg.checks[index]
        n = check.passage
        if n is None or not 1 <= n <= len(msg.sources):
            return
        self.chat.sources.select(n - 1)
        self.open_source(n - 1, span=(check.passage_start, check.passage_end))

    def open_source(self, index: int, *, span: tuple[int, int] | None = None) -> None:
        sources = self.session.sources
        if not 0 <= index < sources.rowCount():
            return
        hit = sources.item(index)
        if self.viewer is None:
            self.viewer = DocumentViewer(self.hearth, self)
            geo = self.geometry()
            self.viewer.resize(min(900, geo.width() - 100), geo.height())
        if span is not None:
            hit = narrowed_hit(hit, *span)
        self.viewer.show_hit(hit, sources.collection or self.library.current)

    # --- models -----------------------------------------------------------------------------

    def _models_changed(self) -> None:
        mdl = self.models
        self.chat.banner.setVisible(mdl.loaded and not mdl.has_model)
        info = mdl.info()
        if info is None:
            text = "No chat model" if mdl.loaded else "Models…"
            self.chat.model_button.setText(text)
            self.model_status.setText("Answers: passages only" if mdl.loaded else "")
            self.chat.model_button.setToolTip("Add a GGUF model to get written answers")
        else:
            self.chat.model_button.setText(info.name)
            self.chat.model_button.setToolTip(
                f"{info.name}: {info.quantization or '?'} · {info.context_length:,} tokens context"
            )
            self.model_status.setText(f"Model: {info.name}")

    def _fill_model_menu(self) -> None:
        menu = self.chat.model_menu
        menu.clear()
        current = self.models.current
        for name in self.models.model.names():
            act = menu.addAction(name)
            act.triggered.connect(partial(self.models.use, name))
            act.setCheckable(True)
            act.setChecked(name == current)
        if self.models.model.rowCount():
            menu.addSeparator()
        menu.addAction(icons.icon("plus"), "Add model…", self.add_model_dialog)
        menu.addAction(icons.icon("chip"), "Manage models…", self.open_models)

    def add_model_dialog(self) -> None:
        path = pick_gguf(self)
        if path is not None:
            self.models.add(path)

    def open_fine_tune(self) -> None:
        """The fine-tuning wizard; imported on demand so the window opens without pyqtgraph."""
        from app.wizard import open_wizard

        open_wizard(self, self.hearth, self.runner, self.models)

    def open_models(self) -> None:
        ModelsDialog(self.models, self).exec()

    def open_settings(self) -> None:
        info = self.library.info()
        dialog = SettingsDialog(
            self.hearth.settings,
            manager=self.models,
            collection=info.name if info else None,
            embedding_model=info.embedding_model if info else None,
            parent=self,
        )
        if not dialog.exec() or dialog.result_settings is None:
            return
        self.hearth.save_settings(dialog.result_settings)
        self.models.model.set_current(self.models.current)
        self._models_changed()
        self.apply_theme()
        new_embedding = dialog.new_embedding_model()
        if new_embedding and info is not None:
            self.library.set_embedding_model(info.name, new_embedding)
        self.show_message("Settings saved.")

    def apply_theme(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, str(self.hearth.settings.extra.get("theme") or "system"))
            self.chat.composer.set_busy(self.chat.composer.busy)

    # --- messages ---------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        log.warning("%s", text)
        self.error_bar.show_message(text)
        self.statusBar().showMessage(text, 10_000)

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 6_000)

    def about(self) -> None:
        """Version, license, what Hearth bundles and under which licenses, where data lives."""
        dialog = AboutDialog(self.hearth, gpu_available=self.models.gpu_available, parent=self)
        self.about_dialog = dialog  # reachable for tests and screenshots
        dialog.open()

    # --- drag and drop ----------------------------------------------------------------------

    def _drop_paths(self, event: QDragEnterEvent | QDropEvent) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        paths = self._drop_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if all(p.suffix.lower() == ".gguf" for p in paths):
            text = "Drop to add the model"
        else:
            target = self.library.drop_target
            text = f"Drop to add to “{target}”"
        self.overlay.show_for(text, self.splitter)
        self.welcome.drop.set_active(True)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.overlay.hide()
        self.welcome.drop.set_active(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self.overlay.hide()
        self.welcome.drop.set_active(False)
        paths = self._drop_paths(event)
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # --- life cycle -------------------------------------------------------------------------

    def save_state(self) -> None:
        settings = self.hearth.settings
        extra = dict(settings.extra)
        extra["window_geometry"] = bytes(self.saveGeometry().toBase64().data()).decode()
        extra["window_splitter"] = bytes(self.splitter.saveState().toBase64().data()).decode()
        extra["last_collection"] = self.library.current
        cid = self.session.conversation_id
        extra["last_conversation"] = cid if isinstance(cid, (int, str)) else None
        settings.extra = extra
        self.hearth.save_settings()

    def shutdown(self) -> None:
        """Save what the user left open, stop background work, close the viewer."""
        if self._closed:
            return
        self._closed = True
        try:
            self.save_state()
        except OSError as exc:
            log.warning("could not save the window's state: %s", exc)
        if self.viewer is not None:
            self.viewer.close()
        self.runner.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
