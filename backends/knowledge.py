"""A session's documents: a Corpus and the Index that follows it, changed together or not at all."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .documents.corpus import Corpus
from .documents.edits import PolicyEdit, apply_edit
from .documents.embedding import Embedder
from .documents.index import Index, IndexUnavailable, SyncReport
from .documents.uploads import FileResult, UploadLimits, add_files
from .loading import load_shared
from .model.weights import Progress
from .settings import Settings


@dataclass
class KnowledgeBase:
    """A session's documents and the index that follows them."""
    corpus: Corpus
    index: Index

    @classmethod
    def create(cls, settings: Settings, store, embedder: Embedder, corpus: Corpus | None = None,
               progress: Progress | None = None) -> "KnowledgeBase":
        """A session's documents: over the shared collection of the configured documents (nothing is
        indexed for the session until it changes something), or, given a corpus, a private index of it."""
        if corpus is not None:
            return cls(corpus, Index.build(corpus, store, embedder, settings.chunk_chars))
        shared = load_shared(settings, store, embedder, progress)
        corpus = shared.corpus()
        return cls(corpus, Index.over(shared, corpus))

    def _change(self, change: Callable[[], list[str]]) -> SyncReport:
        """change() edits the corpus and names the documents it changed; the index follows. Should the
        index fail, the corpus is put back as it was, so the two always agree."""
        saved = dict(self.corpus.documents), dict(self.corpus.original), dict(self.corpus.uploaded)
        ids = change()
        try:
            return self.index.sync(self.corpus, ids)
        except IndexUnavailable:
            self.corpus.documents, self.corpus.original, self.corpus.uploaded = saved
            try:
                self.index.sync(self.corpus, ids)  # undo whatever part of the change reached the index
            except IndexUnavailable:
                pass
            raise

    def apply_edit(self, edit: PolicyEdit) -> SyncReport:
        return self._change(lambda: [apply_edit(self.corpus, edit).doc_id])

    def update_document(self, doc_id: str, text: str) -> SyncReport:
        return self._change(lambda: [self.corpus.update(doc_id, text).doc_id])

    def reset(self) -> SyncReport:
        return self._change(self.corpus.reset)

    def add_files(self, files: list[tuple[str, bytes]], settings: Settings,
                  on_file: Callable[[int, str], None] | None = None) -> list[FileResult]:
        """The user's own files (name, bytes) into this session's documents and index, each with its result."""
        limits = UploadLimits(settings.max_upload_mb * 1_000_000, settings.max_documents, settings.max_session_chars)
        return add_files(self.corpus, self.index, files, limits, on_file)

    def remove_document(self, doc_id: str) -> SyncReport:
        def remove() -> list[str]:
            self.corpus.remove(doc_id)
            return [doc_id]
        return self._change(remove)

    def use_sample(self, on: bool) -> SyncReport:
        """Keeps the sample documents beside the user's own, or answers from the user's own only."""
        return self._change(lambda: self.corpus.use_sample(on))
