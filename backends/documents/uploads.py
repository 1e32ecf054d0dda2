"""A session's own files into its documents and index, one file at a time, each with its own result.

A file that cannot go in (unsupported, empty, too large, damaged, encrypted, a scan, over the
session's limits) gets a message naming it; the files before and after it still go in, and nothing
already in the session is lost. Uploading a file of the same name again replaces that document
through the index's replace-on-edit path: only its changed chunks are embedded.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import PurePath
from typing import Callable

from .convert import ConversionError, convert
from .corpus import Corpus
from .index import Index


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int
    max_documents: int
    max_session_chars: int


@dataclass
class FileResult:
    name: str
    doc_id: str = ""
    chunks: int = 0        # the document's chunks in the index
    added: int = 0         # of those, written anew (a file uploaded again: only its changed chunks)
    embedded: int = 0      # of those, embedded afresh (the rest were in the shared vector cache)
    chars: int = 0
    ms: float = 0.0
    replaced: bool = False
    error: str = ""

    @property
    def line(self) -> str:
        if self.error:
            return self.error
        verb = "replaced" if self.replaced else "added"
        chunks = "chunk" if self.chunks == 1 else "chunks"
        written = ("" if self.added == self.chunks else ", none of them changed" if not self.added
                   else f", {self.added} of them changed, the rest kept")
        vectors = (f", {self.embedded} embedded now" if self.embedded
                   else ", their vectors from the cache" if self.added else "")
        return (f"{self.name}: {verb}, {self.chars:,} characters, {self.chunks} {chunks}{written}{vectors}, "
                f"{self.ms:.0f} ms")


def add_files(corpus: Corpus, index: Index, files: list[tuple[str, bytes]], limits: UploadLimits,
              on_file: Callable[[int, str], None] | None = None) -> list[FileResult]:
    """Converts, chunks, embeds and indexes each (name, bytes); on_file(i, name) as each one starts."""
    results = []
    for i, (name, data) in enumerate(files):
        if on_file:
            on_file(i, name)
        started = time.perf_counter()
        result = FileResult(name)
        try:
            converted = convert(name, data, limits.max_file_bytes)
            doc_id = _own_id(corpus, converted)
            result.name, result.doc_id, result.chars = converted.name, doc_id, len(converted.text)
            _check_room(corpus, doc_id, converted.name, len(converted.text), limits)
            result.replaced = doc_id in corpus.documents
            before = corpus.documents.get(doc_id), corpus.original.get(doc_id), corpus.uploaded.get(doc_id)
            corpus.add(doc_id, converted.text, converted.name)
            try:
                report = index.sync(corpus, [doc_id])
            except Exception:
                _put_back(corpus, doc_id, *before)  # corpus and index always agree
                raise
            result.chunks, result.added, result.embedded = report.added + report.kept, report.added, report.embedded
        except (ConversionError, ValueError) as err:
            result.error = str(err)
        except Exception as err:  # the index failing: the file is not in, the rest of the session is intact
            result.error = f"{name}: could not be indexed ({err})."
        result.ms = (time.perf_counter() - started) * 1000
        results.append(result)
    return results


def _own_id(corpus: Corpus, converted) -> str:
    """The file's id, or, where a sample document has that id (the sample has a `warranty`), the id with
    the file's type: the same for the same file name, so uploading it again still replaces it."""
    if converted.doc_id in corpus.sample:
        return f"{converted.doc_id}-{PurePath(converted.name).suffix.lstrip('.').lower() or 'file'}"
    return converted.doc_id


def _check_room(corpus: Corpus, doc_id: str, name: str, chars: int, limits: UploadLimits) -> None:
    others = [d for d in corpus.uploaded if d != doc_id]
    if len(others) + 1 > limits.max_documents:
        raise ValueError(f"{name}: this session already holds {len(others)} of your documents, the limit; "
                         "remove one first.")
    used = sum(len(corpus.documents[d].text) for d in others if d in corpus.documents)
    if used + chars > limits.max_session_chars:
        raise ValueError(f"{name}: {chars:,} characters would take this session's documents to {used + chars:,}, "
                         f"over its {limits.max_session_chars:,} limit; remove a document first.")


def _put_back(corpus: Corpus, doc_id: str, doc, original, uploaded) -> None:
    if doc is None:
        corpus.documents.pop(doc_id, None)
        corpus.original.pop(doc_id, None)
        corpus.uploaded.pop(doc_id, None)
        return
    corpus.documents[doc_id], corpus.original[doc_id] = doc, original
    if uploaded is None:
        corpus.uploaded.pop(doc_id, None)
    else:
        corpus.uploaded[doc_id] = uploaded
