"""The documents a session answers from: loaded from a folder of Markdown, uploaded, edited in memory.

Each session holds its own Corpus, so an edit or an upload in one browser session never reaches another.
The sample documents can be set aside (`use_sample(False)`) so a session answers from its own only.
A document's version counts its edits in this session (1 as loaded); the corpus version is a short
hash of every document's text, the same for the same texts wherever they came from.
"""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..settings import ROOT

MAX_DOCUMENT_CHARS = 500_000  # one document, edited or uploaded: a few hundred pages


@dataclass(frozen=True)
class Document:
    doc_id: str      # the file name without its extension (for uploads, made safe: see convert.doc_id_for)
    title: str       # the first Markdown heading, else the file name
    text: str
    version: int = 1

    @property
    def digest(self) -> str:
        return text_digest(self.text)


def text_digest(text: str) -> str:
    """A document's text, as a short hash: the session's copy and the shared collection's compare by it."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback.replace("-", " ").capitalize()


def _own_title(text: str, name: str) -> str:
    """An uploaded document's title names its file, so every source cited from it does."""
    heading = _title(text, "")
    return f"{heading} ({name})" if heading else name


def without_file(title: str) -> str:
    """An uploaded document's title as its heading alone ("Bike hire (bikeshop.md)" → "Bike hire"): what
    a grounded prompt labels its passages with, short enough that the model does not copy file names."""
    heading = re.sub(r" \([^()]+\.[A-Za-z0-9]{1,5}\)$", "", title)
    return heading or title


def corpus_version(texts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for doc_id in sorted(texts):
        digest.update(f"{doc_id}\0{texts[doc_id]}\0".encode())
    return digest.hexdigest()[:10]


class Corpus:
    def __init__(self, texts: dict[str, str], names: dict[str, str] | None = None):
        if not texts:
            raise ValueError("A corpus needs at least one document")
        self.names = dict(names or {})        # doc_id -> the file an ingested document came from
        self.original = dict(texts)
        self.sample = dict(texts)             # as loaded: what use_sample(True) brings back
        self.uploaded: dict[str, str] = {}    # doc_id -> the file's name, for the session's own documents
        self.set_aside: dict[str, Document] = {}  # sample documents set aside, edits and all, until brought back
        self.documents = {doc_id: Document(doc_id, self._title_of(doc_id, text), text)
                          for doc_id, text in texts.items()}

    @classmethod
    def from_folder(cls, folder: str | Path) -> "Corpus":
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"The documents folder {folder} does not exist" if not folder.exists()
                             else f"The documents folder {folder} is a file, not a folder")
        inside = folder.resolve()
        # only the folder's own files: a link out of it (to /etc/passwd, say) is never read
        files = sorted(f for f in folder.glob("*.md")
                       if f.is_file() and not f.is_symlink() and f.resolve().parent == inside)
        if not files:
            raise ValueError(f"No Markdown documents (*.md) in {folder}")
        texts = {}
        for f in files:
            if f.stat().st_size > 4 * MAX_DOCUMENT_CHARS:
                raise ValueError(f"{f} is {f.stat().st_size / 1e6:.1f} MB, over the limit of a document "
                                 f"({MAX_DOCUMENT_CHARS:,} characters); split it or move it out of the folder.")
            try:
                texts[f.stem] = f.read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{f} is not UTF-8 text (byte {err.start}).") from None
            if len(texts[f.stem]) > MAX_DOCUMENT_CHARS:
                raise ValueError(f"{f} holds {len(texts[f.stem]):,} characters, over the {MAX_DOCUMENT_CHARS:,} "
                                 "limit of a document; split it or move it out of the folder.")
        return cls(texts)

    def snapshot(self) -> "Corpus":
        """The documents as they read now, in a corpus of their own: training reads it while the session
        goes on editing. Same ids, titles and version."""
        return Corpus({d: doc.text for d, doc in self.documents.items()},
                      {d: self.file_of(d) for d in self.documents if self.file_of(d)})

    @property
    def version(self) -> str:
        return corpus_version({d.doc_id: d.text for d in self.documents.values()})

    @property
    def original_version(self) -> str:
        return corpus_version(self.original)

    def get(self, doc_id: str) -> Document:
        try:
            return self.documents[doc_id]
        except KeyError:
            raise KeyError(f"No document {doc_id!r}; known: {', '.join(sorted(self.documents))}") from None

    def update(self, doc_id: str, text: str) -> Document:
        """Replaces a document's text; refuses empty or oversized text and leaves the old one intact."""
        from .convert import has_text
        old = self.get(doc_id)
        if not has_text(text):
            raise ValueError(f"{old.title}: a document cannot be empty. Nothing was changed.")
        if len(text) > MAX_DOCUMENT_CHARS:
            raise ValueError(f"{old.title}: {len(text):,} characters is over the {MAX_DOCUMENT_CHARS:,} limit. "
                             "Nothing was changed.")
        if text == old.text:
            return old
        new = replace(old, text=text, title=self._title_of(doc_id, text), version=old.version + 1)
        self.documents[doc_id] = new
        return new

    def _title_of(self, doc_id: str, text: str) -> str:
        name = self.file_of(doc_id)
        return _own_title(text, name) if name else _title(text, doc_id)

    def file_of(self, doc_id: str) -> str:
        """The file a document came from, where it was uploaded or ingested ("" for the sample's)."""
        return self.uploaded.get(doc_id) or self.names.get(doc_id, "")

    def add(self, doc_id: str, text: str, name: str) -> Document:
        """Adds an uploaded document, or replaces the one of that id (a file uploaded again): a new version."""
        if len(text) > MAX_DOCUMENT_CHARS:
            raise ValueError(f"{name}: {len(text):,} characters is over the "
                             f"{MAX_DOCUMENT_CHARS:,} limit of a document.")
        if doc_id in self.sample and doc_id not in self.uploaded:
            raise ValueError(f"{name}: a sample document is already called {doc_id!r}; rename the file.")
        old = self.documents.get(doc_id)
        self.original[doc_id] = text
        self.uploaded[doc_id] = name
        if old is not None and old.text == text:
            return old
        doc = Document(doc_id, _own_title(text, name), text, old.version + 1 if old else 1)
        self.documents[doc_id] = doc
        return doc

    def remove(self, doc_id: str) -> None:
        doc = self.get(doc_id)
        if len(self.documents) == 1:
            raise ValueError(f"{doc.title} is the only document left; a session needs at least one.")
        del self.documents[doc_id]
        if doc_id in self.uploaded:  # a sample document keeps its original, for use_sample and reset
            del self.uploaded[doc_id], self.original[doc_id]

    @property
    def uses_sample(self) -> bool:
        return any(doc_id in self.documents for doc_id in self.sample)

    def use_sample(self, on: bool) -> list[str]:
        """Brings the sample documents back as they were set aside (a policy edit kept), or sets them
        aside; gives the ids that changed."""
        if on:
            back = [d for d in self.sample if d not in self.documents]
            for doc_id in back:
                self.documents[doc_id] = self.set_aside.pop(doc_id, None) or Document(
                    doc_id, self._title_of(doc_id, self.sample[doc_id]), self.sample[doc_id])
            return back
        if not self.uploaded:
            raise ValueError("Upload a document of your own first: "
                             "without the sample there would be nothing to answer from.")
        gone = [d for d in self.sample if d in self.documents]
        for doc_id in gone:
            self.set_aside[doc_id] = self.documents.pop(doc_id)
        return gone

    def changed(self) -> list[str]:
        return [d for d, doc in self.documents.items() if doc.text != self.original.get(d, doc.text)]

    def reset(self) -> list[str]:
        """Returns the corpus to its loaded state; gives the ids of the documents that changed back."""
        changed = self.changed()
        self.set_aside.clear()  # what comes back later comes back as loaded
        for doc_id in changed:
            doc = self.documents[doc_id]
            self.documents[doc_id] = replace(doc, text=self.original[doc_id],
                                             title=self._title_of(doc_id, self.original[doc_id]),
                                             version=doc.version + 1)
        return changed


@functools.cache
def shipped_sample() -> Corpus:
    """The Larkspur sample as shipped (not the configured documents, which an operator may change):
    what the shipped adapter learned, and what the grounded prompt names Larkspur over."""
    return Corpus.from_folder(ROOT / "sample_corpus")
