"""The retrieval index: document chunks embedded into a Qdrant collection, kept in step with a Corpus.

A chunk's point id is derived from its document and the hash of its text. Replacing a document
embeds only the chunks whose text is new, deletes the ones that are gone, and relabels the rest
with the new version: no duplicate and no stale chunk survives an edit.

Each Index owns one collection (one per browser session in the app), dropped when the Index is
garbage-collected, so sessions never see each other's edits.
"""
from __future__ import annotations

import hashlib
import re
import time
import uuid
import weakref
from dataclasses import dataclass, replace
from typing import Callable

from ..answers import Source
from ..model.weights import brief
from ..settings import Settings
from .corpus import Corpus, Document
from .embedding import Embedder

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(*])")
_POINT_NAMESPACE = uuid.UUID("8f5c2b1e-5d2a-4a8e-9c61-0b7f3e2d9a10")


class IndexUnavailable(Exception):
    """The vector store cannot be reached or used; the message says where and why."""


def open_store(settings: Settings):
    """A Qdrant client for the configured location: embedded in memory, a local folder, or a server."""
    from qdrant_client import QdrantClient

    location = settings.qdrant_location.strip() or ":memory:"
    try:
        if location == ":memory:":
            return QdrantClient(location=":memory:")
        if location.startswith(("http://", "https://")):
            client = QdrantClient(url=location, api_key=settings.qdrant_api_key or None, timeout=5,
                                  check_compatibility=False)
            client.get_collections()  # fail now, with a clear message, not at the first question
            return client
        client = QdrantClient(path=location)
        _drop_abandoned_overlays(client)
        return client
    except Exception as err:  # a server that is not Qdrant's may answer a page of HTML: one line of it
        raise IndexUnavailable(f"Cannot use Qdrant at {location}: {brief(err)}") from err


_OVERLAY = re.compile(r"playground-[0-9a-f]{12}")  # a session's own collection (Index, unnamed)


def _drop_abandoned_overlays(client) -> None:
    """A Qdrant folder is held by one process at a time, so the session collections in it when it opens
    were left by a process that was killed: dropped, so they do not pile up."""
    for collection in client.get_collections().collections:
        if _OVERLAY.fullmatch(collection.name):
            _drop(client, collection.name)


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    title: str
    version: int
    position: int
    text: str

    @property
    def point_id(self) -> str:
        digest = hashlib.sha256(self.embedded_text.encode()).hexdigest()
        return str(uuid.uuid5(_POINT_NAMESPACE, f"{self.doc_id}\n{digest}"))

    @property
    def embedded_text(self) -> str:
        return f"{self.title}\n{self.text}"  # the title tells the embedder what a bare section is about


@dataclass
class SyncReport:
    added: int = 0      # chunks written, new to this index
    embedded: int = 0   # of those, vectors computed afresh (the rest came from the shared cache)
    deleted: int = 0
    kept: int = 0
    ms: float = 0.0
    documents: tuple[str, ...] = ()


def chunk_document(doc: Document, max_chars: int) -> list[Chunk]:
    from semantic_text_splitter import MarkdownSplitter

    splitter = MarkdownSplitter((max_chars // 3, max_chars))
    pieces = dict.fromkeys(p for p in splitter.chunks(doc.text) if p.strip())  # identical chunks once
    return [Chunk(doc.doc_id, doc.title, doc.version, i, text) for i, text in enumerate(pieces)]


def sentences(text: str) -> list[str]:
    """A passage's sentences and list items, without Markdown headings and bullets."""
    found = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*").strip()
        if line and not line.startswith("#"):
            found += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return found


def _drop(client, name: str) -> None:
    try:
        client.delete_collection(name)
    except Exception:
        pass  # the store went away first; nothing is left to clean


def _not_these(doc_ids) -> object | None:
    from qdrant_client import models
    if not doc_ids:
        return None
    return models.Filter(must_not=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=sorted(doc_ids)))])


class Index:
    """A collection of chunks kept in step with a corpus. Over a shared collection (documents.shared),
    it holds only the session's overlay: the documents it added or changed. Retrieval asks both, merges
    by score, and hides the shared chunks of every document the session replaced or removed."""

    def __init__(self, store, embedder: Embedder, chunk_chars: int, name: str | None = None, shared=None):
        self.store, self.embedder, self.chunk_chars, self.shared = store, embedder, chunk_chars, shared
        self.name = name or f"playground-{uuid.uuid4().hex[:12]}"
        self.keeps_documents = name is not None  # a named collection is kept and read back (shared.open)
        self.corpus_version: str | None = None
        self.hidden: set[str] = set()   # documents whose shared chunks this session does not see
        self._own: set[str] = set()     # documents this session's collection holds
        self._shown: dict[str, tuple[int, str]] = {}  # shared documents shown at another version, title
        self._created = False
        if name is not None:
            self._create()

    def _create(self) -> None:
        from qdrant_client import models
        if self._created:
            return
        try:
            if not self.store.collection_exists(self.name):
                self.store.create_collection(self.name, vectors_config=models.VectorParams(
                    size=self.embedder.dimension, distance=models.Distance.COSINE))
                if not self.keeps_documents:
                    weakref.finalize(self, _drop, self.store, self.name)
        except Exception as err:
            raise IndexUnavailable(f"Cannot create collection {self.name}: {err}") from err
        self._created = True

    @classmethod
    def build(cls, corpus: Corpus, store, embedder: Embedder, chunk_chars: int) -> "Index":
        """A private index of the whole corpus (every chunk in this index's own collection)."""
        index = cls(store, embedder, chunk_chars)
        index._create()
        index.sync(corpus)
        return index

    @classmethod
    def over(cls, shared, corpus: Corpus) -> "Index":
        """A session's index over the shared collection: nothing is indexed until the session changes
        a document, so a new session starts at once however many chunks the corpus has."""
        index = cls(shared.store, shared.embedder, shared.chunk_chars, shared=shared)
        index.sync(corpus, [d for d in corpus.documents if shared.digests.get(d) != corpus.documents[d].digest])
        index.hidden |= {d for d in shared.texts if d not in corpus.documents}
        return index

    def _points_of(self, doc_id: str, collection: str | None = None) -> dict[str, dict]:
        from qdrant_client import models

        collection = collection or self.name
        if collection == self.name and not self._created:
            return {}
        points, offset = {}, None
        while True:
            batch, offset = self.store.scroll(
                collection, scroll_filter=models.Filter(must=[models.FieldCondition(
                    key="doc_id", match=models.MatchValue(value=doc_id))]),
                limit=256, offset=offset, with_payload=True, with_vectors=False)
            points.update({str(p.id): p.payload for p in batch})
            if offset is None:
                return points

    def _seen(self, doc_id: str, own: dict[str, dict] | None = None) -> set[str]:
        """The point ids of a document's chunks that retrieval sees now (own: its points in this index's
        collection, where the caller has them already)."""
        if doc_id in self._own or not self.shared:
            return set(own if own is not None else self._points_of(doc_id))
        return set() if doc_id in self.hidden else set(self._points_of(doc_id, self.shared.name))

    def points_of(self, doc_id: str) -> list[dict]:
        """The chunks of a document that retrieval sees, as payloads (the session's own, else shared)."""
        if doc_id in self._own or not self.shared:
            return list(self._points_of(doc_id).values())
        if doc_id in self.hidden:
            return []
        return [self._as_shown(p) for p in self._points_of(doc_id, self.shared.name).values()]

    def stored_documents(self) -> set[str]:
        """Every document this index's own collection holds chunks of."""
        found, offset = set(), None
        if not self._created:
            return found
        while True:
            batch, offset = self.store.scroll(self.name, limit=1024, offset=offset, with_payload=["doc_id"])
            found |= {p.payload["doc_id"] for p in batch}
            if offset is None:
                return found

    def replace_document(self, doc: Document, report: SyncReport | None = None, file: str = "") -> SyncReport:
        from qdrant_client import models

        report = report or SyncReport()
        started = time.perf_counter()
        self._create()
        chunks = {c.point_id: c for c in chunk_document(doc, self.chunk_chars)}
        existing = self._points_of(doc.doc_id)
        seen = self._seen(doc.doc_id, existing)  # what retrieval saw of it: the report says what changed there
        gone = [pid for pid in existing if pid not in chunks]
        new = [c for pid, c in chunks.items() if pid not in existing]
        relabel = [pid for pid in chunks if pid in existing and existing[pid].get("version") != doc.version]
        if gone:
            self.store.delete(self.name, points_selector=models.PointIdsList(points=gone))
        if new:
            vectors, fresh = self.embedder.embed([c.embedded_text for c in new])
            self.store.upsert(self.name, points=[
                models.PointStruct(id=c.point_id, vector=v, payload={
                    "doc_id": c.doc_id, "title": c.title, "version": c.version, "position": c.position, "text": c.text})
                for c, v in zip(new, vectors)])
            report.embedded += fresh
        report.added += sum(pid not in seen for pid in chunks)
        if relabel:
            self.store.set_payload(self.name, payload={"version": doc.version, "title": doc.title}, points=relabel)
        if self.keeps_documents and chunks:  # the first chunk carries the whole document (shared.open)
            first = next(iter(chunks))
            older = [pid for pid, p in existing.items() if "document" in p and pid != first and pid in chunks]
            if older:
                self.store.delete_payload(self.name, keys=["document", "file"], points=older)
            self.store.set_payload(self.name, payload={"document": doc.text, "file": file, "position": 0},
                                   points=[first])
        self._own.add(doc.doc_id)
        report.deleted += sum(pid not in chunks for pid in seen)
        report.kept += sum(pid in seen for pid in chunks)
        report.documents += (doc.doc_id,)
        report.ms += (time.perf_counter() - started) * 1000
        return report

    def remove_document(self, doc_id: str, report: SyncReport) -> SyncReport:
        from qdrant_client import models

        started = time.perf_counter()
        own = self._points_of(doc_id)
        seen, gone = self._seen(doc_id, own), list(own)
        if gone:
            self.store.delete(self.name, points_selector=models.PointIdsList(points=gone))
        self._own.discard(doc_id)
        report.deleted += len(seen)
        report.documents += (doc_id,)
        report.ms += (time.perf_counter() - started) * 1000
        return report

    def _use_shared(self, doc: Document, report: SyncReport) -> None:
        """The shared chunks hold this document as it is: the session's own copy goes, the shared show."""
        from qdrant_client import models

        started = time.perf_counter()
        own = self._points_of(doc.doc_id)
        seen = self._seen(doc.doc_id, own)
        if doc.doc_id in self._own:
            self.store.delete(self.name, points_selector=models.PointIdsList(points=list(own)))
            self._own.discard(doc.doc_id)
        self.hidden.discard(doc.doc_id)
        if doc.version != 1:  # the shared chunks say version 1: show the session's own count of edits
            self._shown[doc.doc_id] = (doc.version, doc.title)
        else:
            self._shown.pop(doc.doc_id, None)
        shared = set(self._points_of(doc.doc_id, self.shared.name))
        report.added += len(shared - seen)
        report.deleted += len(seen - shared)
        report.kept += len(shared & seen)
        report.documents += (doc.doc_id,)
        report.ms += (time.perf_counter() - started) * 1000

    @property
    def _sees_shared(self) -> bool:
        return bool(self.shared) and len(self.hidden) < len(self.shared.texts)

    def _hide(self, doc_id: str) -> None:
        if self.shared and doc_id in self.shared.texts:
            self.hidden.add(doc_id)

    def sync(self, corpus: Corpus, doc_ids: list[str] | None = None,
             progress: Callable[[int, int], None] | None = None, report: SyncReport | None = None) -> SyncReport:
        """Brings the named documents (all by default) in step with the corpus; progress(done, total)."""
        report = report or SyncReport()
        ids = doc_ids if doc_ids is not None else list(corpus.documents)
        try:
            for done, doc_id in enumerate(ids):
                doc = corpus.documents.get(doc_id)
                if self.shared and doc is not None and self.shared.digests.get(doc_id) == doc.digest:
                    self._use_shared(doc, report)
                elif doc is not None:
                    self.replace_document(doc, report, corpus.file_of(doc_id))
                    self._hide(doc_id)
                else:  # removed, or the sample set aside
                    self.remove_document(doc_id, report)
                    self._hide(doc_id)
                if progress:
                    progress(done + 1, len(ids))
        except Exception as err:
            raise IndexUnavailable(f"Updating the index failed: {err}") from err
        if report.added:
            self.embedder.save()  # once per sync: not once per document, nor on every question's sentences
        self.corpus_version = corpus.version
        return report

    def retrieve(self, query: str, k: int, key_sentences: int = 0) -> tuple[list[Source], float]:
        """Returns the k closest passages and the milliseconds retrieval took. With key_sentences=n, the n
        sentences of those passages nearest the query become the passages' highlights."""
        started = time.perf_counter()
        try:
            vector = self.embedder.embed_query(query)
            hits = []
            if self._own:
                hits += self.store.query_points(self.name, query=vector, limit=k, with_payload=True).points
            if self._sees_shared:
                for hit in self.store.query_points(self.shared.name, query=vector, limit=k, with_payload=True,
                                                   query_filter=_not_these(self.hidden)).points:
                    hit.payload = self._as_shown(hit.payload)
                    hits.append(hit)
        except Exception as err:
            raise IndexUnavailable(f"Retrieval failed: {err}") from err
        hits = sorted(hits, key=lambda h: -h.score)[:k]
        sources = [Source(h.payload["doc_id"], h.payload["title"], h.payload["version"], round(h.score, 3),
                          h.payload["text"]) for h in hits]
        if key_sentences:
            sources = self._highlight(vector, sources, key_sentences)
        return sources, (time.perf_counter() - started) * 1000

    def _as_shown(self, payload: dict) -> dict:
        """A shared chunk's payload with this session's version and title of its document."""
        shown = self._shown.get(payload["doc_id"])
        return {**payload, "version": shown[0], "title": shown[1]} if shown else payload

    def _highlight(self, vector: list[float], sources: list[Source], n: int) -> list[Source]:
        """A 135M model copies a figure from one plain sentence far more reliably than from three
        Markdown passages (see builtin.py), so the prompt quotes the sentences nearest the question."""
        candidates = [(i, sentence) for i, s in enumerate(sources) for sentence in dict.fromkeys(sentences(s.text))]
        if not candidates:
            return sources
        vectors, _ = self.embedder.embed([f"{sources[i].title}: {sentence}" for i, sentence in candidates])
        scores = [sum(a * b for a, b in zip(v, vector)) for v in vectors]
        best = sorted(range(len(candidates)), key=lambda c: -scores[c])[:n]
        chosen = {i: tuple(candidates[c][1] for c in sorted(best) if candidates[c][0] == i)
                  for i in range(len(sources))}
        return [replace(s, highlights=chosen[i]) for i, s in enumerate(sources)]

    def count(self) -> int:
        """The chunks retrieval searches: the session's own and the shared ones it does not hide."""
        own = self.store.count(self.name, exact=True).count if self._created else 0
        if not self._sees_shared:
            return own
        return own + self.store.count(self.shared.name, count_filter=_not_these(self.hidden), exact=True).count
