"""The heavy things, loaded once per process and shared by every session: the model with its adapters,
the Qdrant client and the embedder, and the configured documents' shared collection."""
from __future__ import annotations

import gc
import threading
from pathlib import Path

from .documents.corpus import Corpus
from .documents.embedding import Embedder
from .documents.index import open_store
from .documents.shared import SharedCollection
from .model.engine import Engine
from .model.weights import Progress, cache_name, load_embedder
from .settings import Settings

ENGINE_FIELDS = ("model", "dtype", "decoding", "threads", "adapters_dir", "reader", "adapter", "hybrid_adapter",
                 "cache_dir", "server", "server_api_key", "server_timeout")
KNOWLEDGE_FIELDS = ("embedder", "hub_embedder", "qdrant_location", "qdrant_api_key", "cache_dir")
SHARED_FIELDS = KNOWLEDGE_FIELDS + ("corpus_dir", "chunk_chars", "collection")


def _only(settings: Settings, names: tuple[str, ...]) -> Settings:
    """The settings with every other field at its default, so unrelated changes share one cached object."""
    return Settings(**{name: getattr(settings, name) for name in names})


_loaded: dict[tuple, object] = {}
_loading = threading.Lock()  # two sessions starting at once load the model once, the second waits


def _once(kind: str, settings: Settings, load):
    """What load() returns, made once per process for these settings (two kinds of thing, two of each).

    What is loaded is frozen out of the garbage collector's sight (gc.freeze): it lives as long as the
    process, and Streamlit collects all garbage after every run of a page, which walked its half a
    million objects in about 320 ms each time, holding the interpreter while a crowd's answers
    decoded; frozen, a collection takes under a millisecond. What is let go is unfrozen first."""
    key = (kind, settings)
    with _loading:
        if key not in _loaded:
            same_kind = [k for k in _loaded if k[0] == kind]
            if len(same_kind) >= 2:
                gc.unfreeze()
                del _loaded[same_kind[0]]
                gc.collect()
            _loaded[key] = load()
            gc.freeze()
        return _loaded[key]


def load_engine(settings: Settings, progress: Progress | None = None) -> Engine:
    """The base model with its adapters, once per process for the same model settings: in this process,
    or a model server's (the server setting) behind the same contract."""
    configured = _only(settings, ENGINE_FIELDS)
    if configured.server:
        from .model.served import ServedEngine
        return _once("engine", configured, lambda: ServedEngine.load(configured, progress=progress))
    return _once("engine", configured, lambda: Engine.load(configured, progress=progress))


def load_knowledge_parts(settings: Settings, progress: Progress | None = None) -> tuple[object, Embedder]:
    """The heavy, shareable parts of a knowledge base, once per process: the Qdrant client and the embedder."""
    configured = _only(settings, KNOWLEDGE_FIELDS)

    def load():
        store = open_store(configured)  # first, so an unreachable server fails before the embedder loads
        if progress:
            progress("Loading the embedder", None)
        model, source = load_embedder(configured)
        saved = Path(configured.cache_dir) / f"vectors-{cache_name(source.fingerprint)}.json"
        return store, Embedder(model, source.label, saved)
    return _once("knowledge", configured, load)


def _shared_key(settings: Settings) -> tuple:
    """The shared collection's settings, and for a corpus folder what is in it (a changed file, a new one)."""
    configured = _only(settings, SHARED_FIELDS)
    if configured.collection:
        return configured, ()
    listing = []
    for f in sorted(Path(configured.corpus_dir).glob("*.md")):
        stat = f.stat()
        listing.append((f.name, stat.st_mtime_ns, stat.st_size))
    return configured, tuple(listing)


def load_shared(settings: Settings, store, embedder: Embedder, progress: Progress | None = None) -> SharedCollection:
    """The configured documents' shared collection, once per process: the collection `ingest` wrote
    (the collection setting), else the corpus folder's, found complete in the store or filled once."""
    key = _shared_key(settings)
    configured = key[0]

    def load():
        if configured.collection:
            return SharedCollection.open(store, configured.collection, embedder, configured.chunk_chars)
        corpus = Corpus.from_folder(configured.corpus_dir)
        report = ((lambda done, total: progress(f"Indexing the documents ({done}/{total})", done / total))
                  if progress else None)
        return SharedCollection.for_corpus(corpus, store, embedder, configured.chunk_chars, report)
    return _once("shared", key, load)


def is_loaded(settings: Settings) -> bool:
    """Whether the model and the embedder for these settings are loaded already (no first start to show)."""
    try:
        shared = ("shared", _shared_key(settings)) in _loaded
    except OSError:
        shared = True  # no corpus folder: nothing to index, and knowledge_base() says why
    return (("engine", _only(settings, ENGINE_FIELDS)) in _loaded
            and ("knowledge", _only(settings, KNOWLEDGE_FIELDS)) in _loaded and shared)
