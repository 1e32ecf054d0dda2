"""One question through several backends: one retrieval, one batched generate, one Answer each.

Also the per-session documents (a Corpus with its own Index) that policy edits change.
"""
from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import builtin  # noqa: F401  (registers the built-in backends)
from .answers import Answer, Provenance, Source, Timings
from .documents.convert import has_text
from .documents.corpus import Corpus, shipped_sample
from .documents.edits import PolicyEdit, apply_edit
from .documents.embedding import Embedder
from .documents.index import Index, IndexUnavailable, SyncReport, open_store
from .documents.shared import SharedCollection
from .documents.uploads import FileResult, UploadLimits, add_files
from .model.adapters import HOW_TO_GET_ONE, AdapterInfo
from .model.engine import Engine, Prompt
from .model.weights import Progress, cache_name, load_embedder
from .registry import SYSTEM, Backend, backend_names, get_backend
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


ENGINE_FIELDS = ("model", "dtype", "decoding", "threads", "adapters_dir", "adapter", "hybrid_adapter", "cache_dir")
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
    """The base model with its adapters, once per process for the same model settings."""
    configured = _only(settings, ENGINE_FIELDS)
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
        report = (lambda done, total: progress(f"Indexing the documents ({done}/{total})", done / total)) if progress else None
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


def shipped_sample_version() -> str:
    """The corpus version of the Larkspur sample as shipped, which the shipped adapter learned."""
    return shipped_sample().original_version


@dataclass(frozen=True)
class Learned:
    """The documents an adapter learned, read from its manifest: each one's name and text digest."""
    corpus_version: str | None
    documents: dict[str, tuple[str, str]]  # doc_id -> (its file name, else its title; its text's digest)

    @classmethod
    def of(cls, info: AdapterInfo) -> "Learned":
        entries = info.manifest.get("documents")
        if isinstance(entries, list):
            return cls(info.corpus_version, {d["id"]: (d.get("file") or d.get("title") or d["id"], d["digest"])
                                             for d in entries if isinstance(d, dict) and "id" in d and "digest" in d})
        if info.corpus_version == shipped_sample_version():  # the shipped adapter's manifest predates the list
            return cls(info.corpus_version, {d.doc_id: (d.title, d.digest) for d in shipped_sample().documents.values()})
        return cls(info.corpus_version, {})

    @property
    def words(self) -> str:
        """What it learned, in words: the shipped documents, the files it was trained with, or a corpus version."""
        if self.corpus_version == shipped_sample_version():
            return "the shipped documents"
        sample = {d.doc_id: d.digest for d in shipped_sample().documents.values()}
        with_sample = all(self.documents.get(d, ("", ""))[1] == digest for d, digest in sample.items())
        names = [name for d, (name, _) in self.documents.items() if not (with_sample and d in sample)]
        if with_sample:  # the user's files beside the sample as shipped
            return "the shipped documents" + (f" and {listed(names)}" if names else "")
        return listed(names) if names else f"corpus {self.corpus_version}"

    def since(self, corpus: Corpus) -> str:
        """How these documents differ from what it learned, in words ("" where they do not, or it cannot tell).
        A document it learned that these lack is "not among these documents": this session may never have
        had it (another session, a restart), so nobody is told they removed it."""
        if not self.documents:
            return ""
        both = [d for d in corpus.documents if d in self.documents]
        if not both:
            return "these are other documents"
        changed = [corpus.get(d).title for d in both if corpus.get(d).digest != self.documents[d][1]]
        added = [corpus.get(d).title for d in corpus.documents if d not in self.documents]
        removed = [name for d, (name, _) in self.documents.items() if d not in corpus.documents]
        parts = [f"since then {listed(changed)} changed" if changed else "",
                 f"it never saw {listed(added)}" if added else "",
                 f"{listed(removed)} {'is' if len(removed) == 1 else 'are'} not among these documents"
                 if removed else ""]
        return "; ".join(filter(None, parts))

    def knows_any_of(self, doc_ids) -> bool:
        return any(d in self.documents for d in doc_ids)


def listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_question(question: str, settings: Settings) -> str:
    question = (question or "").strip()
    if not has_text(question):  # empty, or only zero-width spaces and the like
        raise ValueError("Type a question first.")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate: from the command line, bytes that are not UTF-8
        raise ValueError(f"The question is not valid text (character {err.start + 1} cannot be encoded as "
                         "UTF-8). Retype it and ask again.") from None
    if len(question) > settings.max_question_chars:
        raise ValueError(f"That question is {len(question):,} characters long; the limit is "
                         f"{settings.max_question_chars:,}. Shorten it and ask again.")
    return question


class Playground:
    def __init__(self, engine: Engine, settings: Settings):
        self.engine, self.settings = engine, settings

    def candidate_sizes(self, backend: Backend, adapter: str | None, passages: int) -> list[int]:
        """How many of the best passages each answer a column writes is written from (README: grounded
        candidates): all of them, then 1, 2, … for the base model reading passages without
        context-aware decoding. An adapter learned to read top_k passages, and Hybrid lost answers with
        candidates on the development set."""
        if backend.uses_retrieval and adapter is None and not self.settings.contrast_alpha:
            return [passages] + list(range(1, min(self.settings.candidates, passages)))
        return [passages]

    def adapter_for(self, backend: Backend) -> str | None:
        return getattr(self.settings, backend.adapter_setting) if backend.adapter_setting else None

    def ask(self, question: str, kb: KnowledgeBase | None, names: list[str] | None = None,
            on_text: Callable[[str, str], None] | None = None, max_new_tokens: int | None = None,
            force_tokens: bool = False) -> list[Answer]:
        """Answers with every named backend (all registered ones by default), in their order."""
        started = time.perf_counter()
        question = check_question(question, self.settings)
        backends = [get_backend(n) for n in (names or backend_names())]
        answers = {b.name: Answer(b.name, "") for b in backends}

        sources: list[Source] = []
        retrieval_ms, retrieval_error = 0.0, ""
        if any(b.uses_retrieval for b in backends):
            if kb is None:
                retrieval_error = "No document index is loaded."
            else:
                try:
                    sources, retrieval_ms = kb.index.retrieve(question, self.settings.top_k,
                                                                 self.settings.key_sentences)
                except IndexUnavailable as err:
                    retrieval_error = str(err)

        rows: list[tuple[Backend, Prompt]] = []
        candidates: dict[int, list[tuple[int, list[Source]]]] = {}  # a row: its candidates' (row, passages)
        system = builtin.memory_system(kb.corpus) if kb is not None else SYSTEM
        own = [d for d in kb.corpus.documents if kb.corpus.file_of(d)] if kb is not None else []
        for backend in backends:
            answer = answers[backend.name]
            adapter = self.adapter_for(backend)
            if adapter and adapter not in self.engine.adapters:
                problem = self.engine.problems.get(adapter, f"No adapter named {adapter!r} is loaded. {HOW_TO_GET_ONE}")
                if not backend.falls_back_to_base:
                    answer.error = problem
                    continue
                answer.note = f"{problem} Answering with the base model and the retrieved passages instead."
                adapter = None
            if backend.uses_retrieval:
                if retrieval_error:
                    answer.error = retrieval_error
                    continue
                answer.sources = sources
                answer.timings.retrieval_ms = retrieval_ms
            info = self.engine.adapters.get(adapter) if adapter else None
            # Larkspur's name only over Larkspur's documents alone; an adapter is asked as it was trained
            backend.system = _trained_system(info) if info else system
            learned = Learned.of(info) if info else None
            if learned and own and not learned.knows_any_of(own):  # nobody should take its memory for theirs
                answer.note = (f"Its adapter {adapter} was trained on {learned.words}, not on your documents"
                               + (": its answer comes from that training." if not backend.uses_retrieval
                                  else "; " + _whose_passages(answer.sources, own)))
            answer.provenance = Provenance(self.engine.label, adapter, info.corpus_version if info else None,
                                           kb.index.corpus_version if kb else None,
                                           learned.words if learned else None,
                                           learned.since(kb.corpus) if learned and kb is not None else "")
            contrast = self.settings.contrast_alpha if backend.uses_retrieval else 0.0
            twin = backend.twin_messages(question, answer.sources) if contrast else None
            rows.append((backend, Prompt(backend.messages(question, answer.sources), adapter, twin, contrast)))
            sizes = self.candidate_sizes(backend, adapter, len(answer.sources))
            if len(sizes) > 1:
                primary = len(rows) - 1
                candidates[primary] = [(primary, answer.sources)]
                for k in sizes[1:]:
                    fewer = answer.sources[:k]  # the best k passages (sources come best first)
                    candidates[primary].append((len(rows), fewer))
                    rows.append((backend, Prompt(backend.messages(question, fewer), adapter)))

        if rows:
            extra = {row for group in candidates.values() for row, _ in group[1:]}
            callback = ((lambda row, text: row in extra or on_text(rows[row][0].name, text))  # noqa: E731
                        if on_text else None)
            generate_started = (time.perf_counter() - started) * 1000
            outputs = self.engine.generate([p for _, p in rows], max_new_tokens or self.settings.max_new_tokens, callback,
                                           force_tokens)
            query = kb.index.embedder.embed_query(question) if candidates else None
            for primary, group in candidates.items():  # the candidate whose figures answer the question
                fits = [_fit(query, outputs[row].text, passages, kb.index.embedder) for row, passages in group]
                best = max(range(len(group)), key=lambda i: (fits[i], -i))  # a tie keeps the answer from all passages
                if best:
                    row, passages = group[best]
                    outputs[primary] = outputs[row]
                    answer = answers[rows[primary][0].name]
                    answer.sources = passages
                    sizes = " and ".join(f"the best {len(p)}" for _, p in group)
                    answer.note = " ".join(filter(None, [answer.note, (
                        f"Of {len(group)} answers, written from {sizes} passages, this one, from the best "
                        f"{len(passages)}, takes its figures from the passage sentence nearest the question. It "
                        f"replaced the one that streamed, from the best {len(group[0][1])}.")]))
            for row, ((backend, _), out) in enumerate(zip(rows, outputs)):
                if row in extra:
                    continue
                answer = answers[backend.name]
                answer.text, answer.cut_at_limit = out.text, out.cut_at_limit
                answer.timings = Timings(
                    retrieval_ms=round(answer.timings.retrieval_ms, 1), prompt_tokens=out.prompt_tokens,
                    ttft_ms=round(generate_started + out.ttft_ms, 1), generation_ms=round(out.generation_ms, 1),
                    new_tokens=out.new_tokens, total_ms=round(generate_started + out.generation_ms, 1))
        return [answers[b.name] for b in backends]


def _whose_passages(sources: list[Source], own: list[str]) -> str:
    """Whether a grounded column's passages are the user's, all, some or none of them."""
    mine = sum(s.doc_id in own for s in sources)
    if mine and mine == len(sources):
        return "the passages are yours."
    if mine:
        return f"{mine} of its {len(sources)} passages {'is' if mine == 1 else 'are'} from your documents."
    return "none of its passages is from your documents either."


def _trained_system(info: AdapterInfo) -> str:
    """The instruction an adapter learned to answer under (its manifest's; the shipped one's predates the
    field and learned Larkspur's)."""
    system = info.manifest.get("system")
    return system if isinstance(system, str) and system.strip() else SYSTEM


def _fit(query: list[float], text: str, passages: list[Source], embedder: Embedder) -> float:
    """How near the question (its vector) the nearest passage sentence holding one of the answer's
    figures is; -2, below any, where its passages hold none of its figures. The grounded candidate
    shown is the one that fits best: its figure should be the one the passages give for this question,
    not another figure of the same passages (see README, grounded candidates)."""
    from .evaluation.grounding import figure_sentences  # here: the evaluation package imports this module
    found = figure_sentences(text, [(s.title, s.text) for s in passages])
    if not found:
        return -2.0
    vectors, _ = embedder.embed(found)
    return max(sum(a * b for a, b in zip(vector, query)) for vector in vectors)
