"""One read-only collection of the shipped or ingested documents, shared by every session.

Indexing a corpus once per visitor is fine for ten pages and wrong for ten thousand, so the corpus's
chunks live in one collection per process (or on the Qdrant server or folder, where they outlive it),
and each session's Index keeps only an overlay of its own uploads and edits (see index.Index).

The collection's name follows from what is in it (the corpus version, the chunk size, the embedder),
so a restart, or a second server on the same Qdrant, finds it filled and embeds nothing. The first
chunk of each document also carries the document's whole text and file name: an ingested collection
holds everything the app needs to show, edit and cite its documents, with no folder beside it.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable

from .convert import ConversionError, convert
from .corpus import MAX_DOCUMENT_CHARS, Corpus, text_digest
from .embedding import Embedder
from .index import Index, IndexUnavailable, SyncReport, chunk_document


@dataclass
class SharedCollection:
    store: object
    name: str
    embedder: Embedder
    chunk_chars: int
    texts: dict[str, str]                                  # doc_id -> the document's text, as indexed
    names: dict[str, str] = field(default_factory=dict)    # doc_id -> the file it came from (ingested)
    chunks: int = 0

    def __post_init__(self):
        self.digests = {d: text_digest(t) for d, t in self.texts.items()}

    def corpus(self) -> Corpus:
        """A session's own copy of the documents (the texts themselves are shared, not copied)."""
        return Corpus(self.texts, self.names)

    @classmethod
    def for_corpus(cls, corpus: Corpus, store, embedder: Embedder, chunk_chars: int,
                   progress: Callable[[int, int], None] | None = None, name: str | None = None) -> "SharedCollection":
        """The collection of this corpus's chunks: found where it is already complete, else (re)filled,
        embedding only what the embedder's cache lacks."""
        name = name or collection_name(corpus, embedder, chunk_chars)
        expected = sum(len(chunk_document(doc, chunk_chars)) for doc in corpus.documents.values())
        index = Index(store, embedder, chunk_chars, name=name)  # a named collection is kept, not dropped
        if index.count() != expected:
            index.sync(corpus, progress=progress)
        return cls(store, name, embedder, chunk_chars, {d: doc.text for d, doc in corpus.documents.items()},
                   {d: corpus.file_of(d) for d in corpus.documents if corpus.file_of(d)}, expected)

    @classmethod
    def open(cls, store, name: str, embedder: Embedder, chunk_chars: int) -> "SharedCollection":
        """A collection written by `python -m backends ingest`, read back with its documents' texts."""
        from qdrant_client import models
        try:
            if not store.collection_exists(name):
                raise ValueError(f"No collection {name!r} in this Qdrant location; make it with "
                                 "`python -m backends ingest PATH...` first.")
            texts, names, offset = {}, {}, None
            while True:
                batch, offset = store.scroll(name, scroll_filter=models.Filter(must=[models.FieldCondition(
                    key="position", match=models.MatchValue(value=0))]), limit=256, offset=offset, with_payload=True)
                for point in batch:
                    if "document" in point.payload:
                        texts[point.payload["doc_id"]] = point.payload["document"]
                        if point.payload.get("file"):
                            names[point.payload["doc_id"]] = point.payload["file"]
                if offset is None:
                    break
            chunks = store.count(name, exact=True).count
        except ValueError:
            raise
        except Exception as err:
            raise IndexUnavailable(f"Cannot read collection {name}: {err}") from err
        if not texts:
            raise ValueError(f"Collection {name!r} holds no documents written by `ingest`.")
        return cls(store, name, embedder, chunk_chars, texts, names, chunks)


def collection_name(corpus: Corpus, embedder: Embedder, chunk_chars: int) -> str:
    label = hashlib.sha256(embedder.label.encode()).hexdigest()[:8]
    return f"playground-shared-{corpus.version}-{chunk_chars}-{label}"


def ingest(corpus: Corpus, store, embedder: Embedder, chunk_chars: int, name: str,
           progress: Callable[[int, int], None] | None = None) -> tuple[SharedCollection, SyncReport]:
    """Indexes the corpus into a new collection, then points the name at it (a Qdrant alias) in one
    step and drops what the name served before. A killed ingest leaves the earlier collection served
    as it was, never half of the new one; its unfinished collection is dropped by the next ingest.
    The report compares with what the name served: chunks written, kept unchanged, removed."""
    _drop_unfinished(store, name)
    before = _point_ids(store, name)
    written = f"{name}{_WRITING}{uuid.uuid4().hex[:8]}"
    report = Index(store, embedder, chunk_chars, name=written).sync(corpus, progress=progress)
    after = _point_ids(store, written)
    _switch(store, name, written)
    report = replace(report, added=len(after - before), kept=len(after & before), deleted=len(before - after))
    return SharedCollection.open(store, name, embedder, chunk_chars), report


_WRITING = "--ingest-"  # a collection an ingest writes, served under its name only once it is whole


def _aliases(store) -> dict[str, str]:
    return {a.alias_name: a.collection_name for a in store.get_aliases().aliases}


def _drop_unfinished(store, name: str) -> None:
    """Collections an ingest into `name` began and did not finish: none of them is what the name serves."""
    serving = _aliases(store).get(name)
    for collection in store.get_collections().collections:
        if collection.name.startswith(name + _WRITING) and collection.name != serving:
            store.delete_collection(collection.name)


def _point_ids(store, name: str) -> set[str]:
    if not store.collection_exists(name):
        return set()
    ids, offset = set(), None
    while True:
        batch, offset = store.scroll(name, limit=1024, offset=offset, with_payload=False)
        ids |= {str(p.id) for p in batch}
        if offset is None:
            return ids


def _switch(store, name: str, written: str) -> None:
    """Points the name at the written collection and drops the one it served before."""
    from qdrant_client import models
    serving = _aliases(store).get(name)
    if serving is None and store.collection_exists(name):
        store.delete_collection(name)  # written whole by an ingest before aliases were used: replaced now
    changes = [models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=name))] if serving else []
    changes.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=written,
                                                                               alias_name=name)))
    store.update_collection_aliases(change_aliases_operations=changes)
    if serving:
        store.delete_collection(serving)


def corpus_of_files(files: list[tuple[str, bytes]], max_bytes: int) -> tuple[Corpus | None, list[str]]:
    """The files (name, bytes) converted into one corpus, and a message for each file that could not be;
    two files of one name in different formats (policy.pdf, policy.docx) both go in."""
    texts, names, problems = {}, {}, []
    for name, data in files:
        try:
            converted = convert(name, data, max_bytes)
        except ConversionError as err:
            problems.append(str(err))
            continue
        if len(converted.text) > MAX_DOCUMENT_CHARS:
            problems.append(f"{converted.name}: {len(converted.text):,} characters is over the "
                            f"{MAX_DOCUMENT_CHARS:,} limit of a document.")
            continue
        doc_id, n = converted.doc_id, 2
        while doc_id in texts:
            doc_id, n = f"{converted.doc_id}-{n}", n + 1
        texts[doc_id], names[doc_id] = converted.text, converted.name
    return (Corpus(texts, names) if texts else None), problems
