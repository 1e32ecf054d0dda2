"""One question's comparison, as the playground shows it and as a presenter takes it away: every
column's answer before and after an edit, its sources, timings, grounding and the edit's verdict.
Markdown, JSON and CSV are written from this one record, so a download holds what the screen showed."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

from ..answers import Answer
from ..documents.edits import PolicyEdit
from ..registry import get_backend
from .changes import Verdict, verdict
from .grounding import CheckedClaim, check, weigh


@dataclass(frozen=True)
class TimeSplit:
    retrieval_ms: float
    reading_ms: float      # from the end of retrieval to the first token: building and reading the prompt
    generating_ms: float   # from the first token to the last
    tokens_per_s: float | None


def time_split(answer: Answer) -> TimeSplit:
    t = answer.timings
    reading = max(t.ttft_ms - t.retrieval_ms, 0.0)
    generating = max(t.total_ms - t.ttft_ms, 0.0)
    rate = round(t.new_tokens / (generating / 1000), 1) if generating > 0 and t.new_tokens > 1 else None
    return TimeSplit(round(t.retrieval_ms, 1), round(reading, 1), round(generating, 1), rate)


@dataclass
class Checked:
    """An answer with its concrete claims checked against its passages and the documents of its time."""
    answer: Answer
    claims: list[CheckedClaim] = field(default_factory=list)

    @property
    def unsupported(self) -> list[CheckedClaim]:
        return [c for c in self.claims if not c.supported]


def checked(answers: list[Answer], documents: list[tuple[str, str]], question: str | None = None,
            kb=None, top_k: int = 3) -> list[Checked]:
    """Each answer's grounding, against its own passages and `documents` ((title, text), as they are now).
    With the question and the session's knowledge base, each claim is also weighed (grounding.weigh):
    does a sentence that holds it answer this question? An answer without passages is weighed against
    the passages retrieval finds for the question."""
    if question is None or kb is None:
        return [Checked(a, check(a.text, [(s.title, s.text) for s in a.sources], documents) if a.text else [])
                for a in answers]
    embedder = kb.index.embedder
    query = embedder.embed_query(question)
    nearest = None
    out = []
    for a in answers:
        passages = [(s.title, s.text) for s in a.sources]
        claims = check(a.text, passages, documents) if a.text else []
        if claims and not passages:
            nearest = nearest if nearest is not None else [(s.title, s.text) for s in kb.index.retrieve(
                question, top_k)[0]]
            passages = nearest
        out.append(Checked(a, weigh(claims, question, query, passages, lambda texts: embedder.embed(texts)[0])))
    return out


@dataclass
class Comparison:
    question: str
    answers: list[Checked]                      # now: after the edit when there is one
    corpus_version: str | None = None           # the documents the answers were given
    edit: PolicyEdit | None = None
    before: list[Checked] | None = None         # before the edit, in the same column order
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @classmethod
    def of(cls, question: str, answers: list[Checked], corpus_version: str | None,
           edit: PolicyEdit | None = None, before: list[Checked] | None = None) -> "Comparison":
        verdicts = {}
        if edit is not None and before is not None:
            earlier = {c.answer.backend: c.answer for c in before}
            for now in answers:
                a, b = now.answer, earlier.get(now.answer.backend)
                if a.error or b is None or b.error:
                    continue
                backend = get_backend(a.backend)
                verdicts[a.backend] = verdict(
                    b.text, a.text, edit, backend.uses_retrieval, a.stale,
                    any(s.doc_id == edit.doc_id for s in a.sources) if backend.uses_retrieval else None,
                    [c.claim.text for c in now.unsupported])
        return cls(question, answers, corpus_version, edit, before, verdicts)

    def before_of(self, backend: str) -> Checked | None:
        return next((c for c in self.before or [] if c.answer.backend == backend), None)

    # --- taking it away -------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """One row per column and phase: what a spreadsheet holds."""
        rows = []
        for now in self.answers:
            name = now.answer.backend
            phases = [("before", self.before_of(name)), ("after", now)] if self.before else [("now", now)]
            for phase, item in phases:
                if item is None:
                    continue
                a, split = item.answer, time_split(item.answer)
                rows.append({
                    "question": self.question, "edit": self.edit.title if self.edit else "", "column": name,
                    "phase": phase, "answer": a.text, "error": a.error, "note": a.note,
                    "sources": "; ".join(f"{s.title} (version {s.version}, score {s.score:.2f})" for s in a.sources),
                    "adapter": a.provenance.adapter if a.provenance else None, "stale": a.stale,
                    "verdict": self.verdicts[name].line if phase == "after" and name in self.verdicts else "",
                    "supported_claims": "; ".join(c.claim.text for c in item.claims
                                                  if c.supported and c.answers is not False),
                    "found_not_as_the_answer": "; ".join(c.claim.text for c in item.claims if c.answers is False),
                    "unsupported_claims": "; ".join(c.claim.text for c in item.unsupported),
                    **asdict(split), "prompt_tokens": a.timings.prompt_tokens, "new_tokens": a.timings.new_tokens,
                    "total_ms": a.timings.total_ms})
        return rows

    def to_json(self) -> str:
        def one(item: Checked | None) -> dict | None:
            if item is None:
                return None
            return item.answer.to_dict() | {"time_split": asdict(time_split(item.answer)), "claims": [
                {"text": c.claim.text, "kind": c.claim.kind, "found_in": c.where or None, "source": c.source or None,
                 "answers_the_question": c.answers}
                for c in item.claims]}
        return json.dumps({
            "question": self.question, "corpus_version": self.corpus_version,
            "edit": asdict(self.edit) if self.edit else None,
            "columns": [{"column": now.answer.backend, "before": one(self.before_of(now.answer.backend)),
                         "after" if self.before else "now": one(now),
                         "verdict": asdict(self.verdicts[now.answer.backend])
                         if now.answer.backend in self.verdicts else None} for now in self.answers]},
            indent=2, ensure_ascii=False, default=str)

    def to_csv(self) -> str:
        rows = self.rows()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["question"])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def to_markdown(self) -> str:
        lines = [f"# {self.question}", ""]
        if self.edit:
            lines += [f"**Edit:** {self.edit.title}. {self.edit.description}", ""]
        for now in self.answers:
            name = now.answer.backend
            lines += [f"## {name}", ""]
            if name in self.verdicts:
                lines += [f"**Verdict:** {self.verdicts[name].line}", ""]
            phases = ([("Before the edit", self.before_of(name)), ("After the edit", now)] if self.before
                      else [("Answer", now)])
            for title, item in phases:
                if item is None:
                    continue
                a, split = item.answer, time_split(item.answer)
                lines += [f"### {title}", ""]
                lines += ["> " + line for line in (a.text or a.error or "(no answer)").splitlines()] + [""]
                if a.note:
                    lines += [f"*{a.note}*", ""]
                for s in a.sources:
                    lines.append(f"- Source: {s.title}, version {s.version}, score {s.score:.2f}")
                for c in item.claims:
                    where = {"passages": f"in the passages ({c.source})", "documents": f"in the documents ({c.source})"}
                    nowhere = "not in the passages or the documents" if a.sources else "not in the documents"
                    not_it = ", but not as the answer to this question" if c.answers is False else ""
                    lines.append(f"- Claim “{c.claim.text}”: {where.get(c.where, nowhere)}{not_it}")
                rate = f", {split.tokens_per_s} tokens/s" if split.tokens_per_s else ""
                lines += [f"- Time: retrieval {split.retrieval_ms:.0f} ms, "
                          f"reading the prompt {split.reading_ms:.0f} ms, "
                          f"generating {split.generating_ms:.0f} ms{rate}; {a.timings.prompt_tokens} prompt tokens", ""]
        return "\n".join(lines)
