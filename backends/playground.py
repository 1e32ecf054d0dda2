"""One question through several backends: one retrieval, one batched generate, one Answer each.

A session's documents are knowledge.py's; what loads once per process, loading.py's.
"""
from __future__ import annotations

import time
from typing import Callable

from . import builtin  # noqa: F401  (registers the built-in backends)
from .answers import Answer, Provenance, Source, Timings
from .documents.convert import has_text
from .documents.embedding import Embedder
from .documents.index import IndexUnavailable
from .knowledge import KnowledgeBase
from .learned import Learned
from .model.adapters import HOW_TO_GET_ONE, AdapterInfo
from .model.engine import Engine, Prompt
from .registry import SYSTEM, Backend, backend_names, get_backend
from .settings import Settings


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
        """How many of the best passages each answer a column writes is written from (docs/rag-reading.md,
        grounded candidates): all of them, then 1, 2, … for the base model reading passages without
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
        """Answers with every named backend (all registered ones by default), in their order: one
        retrieval, the columns' prompt rows, one batched generation, RAG's choice among its candidates."""
        started = time.perf_counter()
        question = check_question(question, self.settings)
        backends = [get_backend(n) for n in (names or backend_names())]
        answers = {b.name: Answer(b.name, "") for b in backends}
        retrieved = self._retrieve(question, kb) if any(b.uses_retrieval for b in backends) else ([], 0.0, "")
        rows, candidates = self._rows(question, kb, backends, answers, retrieved)
        if not rows:
            return [answers[b.name] for b in backends]
        extra = {row for group in candidates.values() for row, _ in group[1:]}  # candidates do not stream

        def stream(row: int, text: str) -> None:
            if row not in extra:
                on_text(rows[row][0].name, text)
        generate_started = (time.perf_counter() - started) * 1000
        outputs = self.engine.generate([p for _, p in rows], max_new_tokens or self.settings.max_new_tokens,
                                       stream if on_text else None, force_tokens)
        if candidates:
            self._choose(question, kb, rows, candidates, outputs, answers)
        for row, ((backend, _), out) in enumerate(zip(rows, outputs)):
            if row in extra:
                continue
            answer = answers[backend.name]
            answer.text, answer.cut_at_limit = out.text, out.cut_at_limit
            if out.error:  # a model server that failed this row: the other columns stand
                answer.error = out.error
            answer.timings = Timings(
                retrieval_ms=round(answer.timings.retrieval_ms, 1), prompt_tokens=out.prompt_tokens,
                ttft_ms=round(generate_started + out.ttft_ms, 1), generation_ms=round(out.generation_ms, 1),
                new_tokens=out.new_tokens, total_ms=round(generate_started + out.generation_ms, 1))
        return [answers[b.name] for b in backends]

    def _retrieve(self, question: str, kb: KnowledgeBase | None) -> tuple[list[Source], float, str]:
        """The passages every grounded column shares, the time it took, and why there are none if it failed."""
        if kb is None:
            return [], 0.0, "No document index is loaded."
        try:
            sources, retrieval_ms = kb.index.retrieve(question, self.settings.top_k, self.settings.key_sentences)
        except IndexUnavailable as err:
            return [], 0.0, str(err)
        return sources, retrieval_ms, ""

    def _rows(self, question: str, kb: KnowledgeBase | None, backends: list[Backend], answers: dict[str, Answer],
              retrieved: tuple[list[Source], float, str]):
        """Each column's prompt row, its provenance and notes, and for a column that writes candidates
        (candidate_sizes) their extra rows: {its row: [(a candidate's row, its passages), ...]}. A column
        that cannot answer gets its error instead of a row."""
        sources, retrieval_ms, retrieval_error = retrieved
        rows: list[tuple[Backend, Prompt]] = []
        candidates: dict[int, list[tuple[int, list[Source]]]] = {}
        system = builtin.memory_system(kb.corpus) if kb is not None else SYSTEM
        own = [d for d in kb.corpus.documents if kb.corpus.file_of(d)] if kb is not None else []
        for backend in backends:
            answer = answers[backend.name]
            adapter = self.adapter_for(backend)
            if adapter and adapter not in self.engine.adapters:
                problem = self.engine.problems.get(adapter,
                                                   f"No adapter named {adapter!r} is loaded. {HOW_TO_GET_ONE}")
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
            if contrast and not getattr(self.engine, "can_contrast", True):
                contrast, answer.note = 0.0, " ".join(filter(None, [answer.note, (
                    "Context-aware decoding is set, but the model server gives no scores to combine: "
                    "this answer is decoded without it.")]))
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
        return rows, candidates

    def _choose(self, question: str, kb: KnowledgeBase, rows, candidates, outputs, answers) -> None:
        """In each column with candidates, the one whose figures answer the question takes the place of
        the answer that streamed (its row's output), with a note that says so."""
        query = kb.index.embedder.embed_query(question)
        for primary, group in candidates.items():
            fits = [_fit(query, outputs[row].text, passages, kb.index.embedder) for row, passages in group]
            best = max(range(len(group)), key=lambda i: (fits[i], -i))  # a tie keeps the answer from all passages
            if not best:
                continue
            row, passages = group[best]
            outputs[primary] = outputs[row]
            answer = answers[rows[primary][0].name]
            answer.sources = passages
            sizes = " and ".join(f"the best {len(p)}" for _, p in group)
            answer.note = " ".join(filter(None, [answer.note, (
                f"Of {len(group)} answers, written from {sizes} passages, this one, from the best "
                f"{len(passages)}, takes its figures from the passage sentence nearest the question. It "
                f"replaced the one that streamed, from the best {len(group[0][1])}.")]))


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
    not another figure of the same passages (docs/rag-reading.md, grounded candidates)."""
    from .evaluation.grounding import figure_sentences  # here: the evaluation package imports this module
    found = figure_sentences(text, [(s.title, s.text) for s in passages])
    if not found:
        return -2.0
    vectors, _ = embedder.embed(found)
    return max(sum(a * b for a, b in zip(vector, query)) for vector in vectors)
