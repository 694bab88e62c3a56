"""The engine's one facade: what the desktop app, the command line and the tests call.

`Hearth(home)` opens (or creates) a Hearth home and offers collections, ingest, search, ask,
models and conversations. Long operations are generators of typed events (engine/events.py)
that take a `CancelToken`; everything else returns plain dataclasses. Nothing here knows about
threads or Qt: the caller decides where a generator runs.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import Paths, Settings, default_home
from engine.errors import HearthError
from engine.events import (
    Answer,
    AnswerFinished,
    CancelToken,
    ChatEvent,
    Hit,
    IngestEvent,
    IngestFinished,
    IngestSummary,
    Status,
    TurnSaved,
)
from engine.index.catalog import ChunkRecord, DocumentRecord
from engine.index.collection import Collection, CollectionInfo, CollectionStore
from engine.index.embed import DEFAULT_EMBEDDING_MODEL, DeferredEmbedder
from engine.offline import go_offline
from engine.resources import samples_dir

if TYPE_CHECKING:
    import numpy as np

    from engine.chat.answer import Turn
    from engine.chat.conversations import ConversationStore
    from engine.index.links import LinkedFolder
    from engine.llm.base import ChatModel
    from engine.llm.registry import ModelInfo, ModelRegistry
    from engine.llm.remote import RemoteModel
    from engine.llm.runtime import ModelRuntime
    from engine.watch import WatchEvent

__all__ = ["DEFAULT_EMBEDDING_MODEL", "SAMPLE_COLLECTION", "DocumentInfo", "Hearth"]

SAMPLE_COLLECTION = "Sample documents"


@dataclass(frozen=True)
class DocumentInfo:
    """A document of a collection as a user sees it."""

    id: int
    path: Path
    name: str
    title: str
    kind: str
    pages: int | None
    chunks: int
    status: str
    """'indexed' or 'failed'."""
    error: str | None
    size: int
    updated_at: float
    duplicate_of: Path | None = None
    """For a duplicate: the indexed document with the same content."""

    @classmethod
    def from_record(cls, r: DocumentRecord) -> DocumentInfo:
        return cls(
            id=r.id,
            path=r.path,
            name=r.path.name,
            title=r.title,
            kind=r.kind,
            pages=r.pages,
            chunks=r.chunks,
            status=r.status,
            error=r.error,
            size=r.size,
            updated_at=r.updated_at,
            duplicate_of=r.duplicate_of,
        )


class Hearth:
    """A Hearth home: collections, models, conversations and settings under one folder."""

    def __init__(self, home: Path | str | None = None) -> None:
        go_offline()
        self.paths = Paths(Path(home).expanduser().resolve() if home else default_home()).ensure()
        # A line for each stored setting that was invalid and ignored, for the user to see.
        self.settings, self.settings_problems = Settings.read(self.paths.settings_file)
        self._collections = CollectionStore(self.paths.collections)
        self._lock = threading.RLock()
        self._models: ModelRegistry | None = None
        self._runtime: ModelRuntime | None = None
        self._conversations: ConversationStore | None = None
        self._remotes: dict[str, RemoteModel] = {}
        # Scanned pages read by OCR are kept, so a cancelled ingest resumes (engine/ingest/ocr.py).
        from engine.ingest.ocr import use_cache

        use_cache(self.paths.cache / "ocr.sqlite")

    # --- settings ---------------------------------------------------------------------------

    def save_settings(self, settings: Settings | None = None) -> None:
        """Store settings (validated by `Settings` itself) in the home directory."""
        if settings is not None:
            self.settings = settings
        self.settings.save(self.paths.settings_file)

    # --- collections ------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        return [c.info() for c in self._collections.all()]

    def create_collection(self, name: str, *, embedding_model: str | None = None) -> CollectionInfo:
        return self._collections.create(name, embedding_model=embedding_model).info()

    def rename_collection(self, old: str, new: str) -> CollectionInfo:
        info = self._collections.rename(old, new).info()
        self.conversations.move_collection(old, info.name)
        if self.settings.default_collection == old:
            self.settings.default_collection = info.name
            self.save_settings()
        return info

    def delete_collection(self, name: str) -> None:
        """Delete a collection's index and its conversations; the documents are not touched."""
        self._collections.delete(name)
        self.conversations.move_collection(name, None)

    def collection_info(self, name: str | None = None) -> CollectionInfo:
        return self._collection(name).info()

    def _collection(self, name: str | None, *, create: bool = False) -> Collection:
        name = name or self.settings.default_collection
        if create:
            return self._collections.get_or_create(name)
        return self._collections.get(name)

    def set_embedding_model(
        self, collection: str, model: str, *, cancel: CancelToken | None = None
    ) -> Iterator[IngestEvent]:
        """Choose another embedding model for a collection and re-embed its chunks."""
        from engine.index.embed import get_embedder
        from engine.index.reembed import reembed

        coll = self._collection(collection)
        yield from reembed(coll, get_embedder(model), cancel=cancel)

    # --- documents --------------------------------------------------------------------------

    def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        return [
            DocumentInfo.from_record(r) for r in self._collection(collection).catalog.documents()
        ]

    def document_text(self, collection: str | None, document_id: int) -> str:
        """The extracted text of a document, as its spans (Hit.start/end) refer to it."""
        return self._collection(collection).catalog.document_text(document_id)

    def ingest(
        self,
        paths: Sequence[Path | str],
        *,
        collection: str | None = None,
        sync: bool = False,
        cancel: CancelToken | None = None,
    ) -> Iterator[IngestEvent]:
        """Index files and folders into a collection (created if needed).

        With `sync`, documents whose files are gone are dropped; with `sync` and no paths,
        every known document is re-checked and changed ones are re-indexed.
        """
        from engine.ingest.pipeline import ingest_paths

        coll = self._collection(collection, create=True)
        targets = [Path(p) for p in paths]
        if sync and not targets:
            targets = [d.path for d in coll.catalog.documents() if d.path.exists()]
        if (yield from _read_scanned_pages(coll, targets, cancel)):
            yield IngestFinished(IngestSummary(collection=coll.name, cancelled=True))
            return
        yield from ingest_paths(coll, targets, sync=sync, cancel=cancel)

    def remove_document(self, path: Path | str, *, collection: str | None = None) -> bool:
        """Remove a document from a collection (the file itself is left alone)."""
        coll = self._collection(collection)
        target = Path(path).expanduser().absolute()
        with coll.write_lock:
            if coll.catalog.document(target) is None:
                return False
            coll.vectors().update(coll.catalog.remove_documents([target]), ())
            coll.save_vectors()
        return True

    def iter_chunks(self, collection: str | None = None) -> Iterator[ChunkRecord]:
        """Every chunk of a collection with its file, page and heading (for datasets)."""
        yield from self._collection(collection).catalog.iter_chunks()

    def open_sample_collection(self, *, cancel: CancelToken | None = None) -> Iterator[IngestEvent]:
        """Build (or refresh) the sample collection from the documents Hearth ships with."""
        yield from self.ingest([samples_dir()], collection=SAMPLE_COLLECTION, cancel=cancel)

    # --- linked folders (engine/index/links.py, engine/watch.py) ----------------------------

    def link_folder(self, folder: Path | str, *, collection: str | None = None) -> LinkedFolder:
        """Link a folder to a collection (created if needed): `watch` keeps it in sync.

        Linking indexes nothing by itself: `watch` (or an ingest of the folder) does.
        """
        from engine.index.links import LinkStore

        coll = self._collection(collection, create=True)
        path = LinkStore(coll.catalog, coll.name).add(folder)
        return next(f for f in self.linked_folders(coll.name) if f.path == path)

    def unlink_folder(
        self, folder: Path | str, *, collection: str | None = None, keep_documents: bool = False
    ) -> int:
        """Stop keeping a folder in sync; its documents are removed unless `keep_documents`.

        Returns how many documents were removed. Raises HearthError if it was not linked.
        """
        from engine.index.links import LinkStore, folder_path, is_under
        from engine.watch import remove_documents

        coll = self._collection(collection)
        path = folder_path(folder)
        if not LinkStore(coll.catalog, coll.name).remove(path):
            raise HearthError(
                f"{path} is not linked to '{coll.name}'. `hearth status` lists linked folders."
            )
        if keep_documents:
            return 0
        docs = [d.path for d in coll.catalog.documents() if is_under(d.path, path)]
        return remove_documents(coll, docs)

    def linked_folders(self, collection: str | None = None) -> list[LinkedFolder]:
        """Folders linked to a collection, or to every collection when `collection` is None."""
        from engine.index.links import LinkStore

        colls = self._collections.all() if collection is None else [self._collection(collection)]
        return [f for c in colls for f in LinkStore(c.catalog, c.name).list()]

    def watch(
        self,
        *,
        collection: str | None = None,
        cancel: CancelToken,
        debounce_s: float | None = None,
    ) -> Iterator[WatchEvent]:
        """Keep linked folders in sync until `cancel` is set: first a re-check of what changed
        while Hearth was closed, then every change within seconds (see engine/watch.py)."""
        from engine.watch import DEBOUNCE_S, watch_folders

        def collections() -> list[Collection]:
            return [c for c in self._collections.all() if collection in (None, c.name)]

        def ingest(
            coll: Collection, paths: Sequence[Path], token: CancelToken
        ) -> Iterator[IngestEvent]:
            return self.ingest(paths, collection=coll.name, cancel=token)

        yield from watch_folders(
            collections,
            ingest,
            cancel=cancel,
            debounce_s=DEBOUNCE_S if debounce_s is None else debounce_s,
        )

    def page_words(self, path: Path | str, page: int) -> list[tuple[object, ...]]:
        """Word rectangles OCR found on a scanned page (1-based), for highlighting; [] if none."""
        from engine.ingest.ocr import page_words

        return list(page_words(Path(path), page))

    # --- retrieval --------------------------------------------------------------------------

    def search(self, query: str, *, collection: str | None = None, k: int = 10) -> list[Hit]:
        """The k passages of a collection that best answer `query`, best first."""
        from engine.retrieval.search import search

        return search(self._collection(collection), query, k=k)

    # --- chat -------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        collection: str | None = None,
        model: str | None = None,
        history: Sequence[Turn] | None = None,
        conversation: int | None = None,
        regenerate: bool = False,
        cancel: CancelToken | None = None,
        settings: Settings | None = None,
    ) -> Iterator[ChatEvent]:
        """Answer a question from a collection's documents, streaming tokens, with citations.

        Without an installed chat model the answer is made of the best passages, cited. With a
        `conversation`, the turn is saved there: the question before the answer starts (unless
        `regenerate`, which answers the last question again), the answer with its sources when
        it is finished, each announced by a `TurnSaved`; `history` then defaults to the
        conversation's earlier turns. `settings` replaces the saved settings for this answer
        only (the API's per-request passages, temperature and answer length).
        """
        from engine.chat.answer import answer_question

        settings = settings or self.settings
        question = question.strip()
        if not question:
            raise HearthError("Type a question first.")
        # Names are checked before anything heavy is loaded.
        coll = self._collection(collection)
        info = self.chat_model(model, settings=settings)
        if history is None:
            history = self.conversations.history(conversation) if conversation else []
            if regenerate and history and history[-1].role == "user":
                history = history[:-1]
        if conversation is not None and not regenerate:
            stored = self.conversations.append(conversation, role="user", text=question)
            yield TurnSaved(conversation, stored.id, "user")
        yield Status("Searching your documents…")
        from engine.retrieval.search import search

        hits = search(coll, _retrieval_query(question, history), k=settings.passages)
        indexing = coll.indexing()
        if indexing is not None:
            yield Status(f"Answering from what is indexed so far ({indexing.describe()})…")
        chat_model = None
        if info is not None:
            yield Status(f"Loading {info.name}…")
            chat_model = self._load_model(info)
        for event in answer_question(
            question,
            hits=hits,
            model=chat_model,
            history=history,
            settings=settings,
            cancel=cancel,
            encoder=DeferredEmbedder(coll.embedding_model) if hits else None,
        ):
            if isinstance(event, AnswerFinished) and indexing is not None:
                note = (
                    "Your documents are still being indexed "
                    f"({indexing.describe()}): this answer comes from what was indexed so far."
                )
                event = AnswerFinished(replace(event.answer, notes=(*event.answer.notes, note)))
            yield event
            if isinstance(event, AnswerFinished) and conversation is not None:
                saved = self.save_answer(conversation, event.answer)
                if saved is not None:
                    yield TurnSaved(conversation, saved, "assistant")

    def save_answer(self, conversation: int, answer: Answer) -> int | None:
        """Store an answer with its numbered sources in a conversation; its message id, or
        None when there was nothing to store (an answer stopped before its first word)."""
        if not answer.text.strip():
            return None
        sources = [dict(h.to_json(), n=i + 1) for i, h in enumerate(answer.sources)]
        return self.conversations.append(
            conversation,
            role="assistant",
            text=answer.text,
            sources=sources,
            checks=[c.to_json() for c in answer.sentences],
            notice=answer_notice(answer),
        ).id

    def chat_model(
        self, name: str | None = None, *, settings: Settings | None = None
    ) -> ModelInfo | None:
        """The model that writes answers: `name` (which must exist), else the user's choice,
        else the first plain model installed; None when there is none."""
        if name:
            return self.models.get(name)
        return self.models.default((settings or self.settings).chat_model)

    # --- models -----------------------------------------------------------------------------

    @property
    def models(self) -> ModelRegistry:
        with self._lock:
            if self._models is None:
                from engine.llm.registry import ModelRegistry

                self._models = ModelRegistry(self.paths)
            return self._models

    def list_models(self) -> list[ModelInfo]:
        return self.models.list()

    def add_model(self, path: Path | str, *, name: str | None = None) -> ModelInfo:
        return self.models.add(Path(path).expanduser(), name=name)

    def model_info(self, name: str) -> ModelInfo:
        return self.models.get(name)

    def remove_model(self, name: str) -> None:
        if self._runtime is not None:
            self._runtime.unload()
        self.models.remove(name)

    def load_model(self, name: str) -> ChatModel:
        """Load a chat model (or switch the adapter of the loaded one) with current settings."""
        return self._load_model(self.models.get(name))

    def _load_model(self, info: ModelInfo) -> ChatModel:
        if info.is_remote:
            return self._remote_model(info)
        with self._lock:
            if self._runtime is None:
                from engine.llm.runtime import ModelRuntime

                self._runtime = ModelRuntime()
            runtime = self._runtime
        base = self.models.get(info.base) if info.base else None
        return runtime.get(
            info,
            base=base,
            context_length=self.settings.context_length,
            gpu_layers=self.settings.gpu_layers,
        )

    # --- remote models and serving (engine/llm/remote.py, engine/serve/) ---------------------

    def add_remote_model(
        self,
        name: str,
        *,
        url: str,
        model: str | None = None,
        api_key_env: str | None = None,
        context_length: int = 0,
    ) -> ModelInfo:
        """Register a chat model served by an OpenAI-compatible server (llama-server, vLLM)."""
        return self.models.add_remote(
            name, url=url, model=model, api_key_env=api_key_env, context_length=context_length
        )

    def remote_endpoints(self) -> list[ModelInfo]:
        """Every remote model: the only addresses outside this computer Hearth talks to."""
        return self.models.endpoints()

    def _remote_model(self, info: ModelInfo) -> ChatModel:
        """One client per remote entry, kept so a follow-up continues the same transcript."""
        from engine.llm.remote import RemoteModel

        with self._lock:
            model = self._remotes.get(info.name)
            if model is None or model.info != info:
                model = RemoteModel(info, context_length=self.settings.context_length)
                self._remotes[info.name] = model
            return model

    def embed(self, texts: Sequence[str], *, collection: str | None = None) -> np.ndarray:
        """Embeddings of `texts` (float32 rows, L2-normalized) by a collection's embedding
        model, as its passages were indexed."""
        return self._collection(collection).embedder().embed(list(texts))

    @staticmethod
    def gpu_offload_available() -> bool:
        from engine.llm.runtime import gpu_offload_available

        return gpu_offload_available()

    # --- conversations ----------------------------------------------------------------------

    @property
    def conversations(self) -> ConversationStore:
        with self._lock:
            if self._conversations is None:
                from engine.chat.conversations import ConversationStore

                self._conversations = ConversationStore(self.paths.conversations_db)
            return self._conversations

    # --- life cycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is pending and release files and the model."""
        self._collections.close()
        if self._runtime is not None:
            self._runtime.unload()
        for remote in self._remotes.values():
            remote.close()
        if self._conversations is not None:
            self._conversations.close()

    def __enter__(self) -> Hearth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_scanned_pages(
    coll: Collection, targets: Sequence[Path], cancel: CancelToken | None
) -> Generator[IngestEvent, None, bool]:
    """OCR the scanned pages of new or changed PDFs ahead of the ingest, page by page; returns
    True when cancelled. Read pages are cached, so the next run resumes where this one stopped."""
    from engine.ingest.ocr import ocr_available, read_scanned
    from engine.ingest.pipeline import discover

    if not ocr_available():
        return False
    pdfs = []
    for path in discover(targets).files:
        if path.suffix.lower() != ".pdf":
            continue
        known = coll.catalog.document(path)
        try:
            st = path.stat()
        except OSError:
            continue
        if known is None or (known.size, known.mtime) != (st.st_size, st.st_mtime):
            pdfs.append(path)
    return (yield from read_scanned(pdfs, cancel=cancel))


def answer_notice(answer: Answer) -> str:
    """What to show with an answer: its verdict notice, then its notes (cut for repeating
    itself, answered while indexing was under way), one per line."""
    return "\n".join(n for n in (answer.notice, *answer.notes) if n)


def _retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """A follow-up such as "and on Windows?" is searched together with the previous question."""
    earlier = [t.text for t in history if t.role == "user"]
    if earlier and len(question.split()) < 8:
        return f"{earlier[-1]}\n{question}"
    return question
