"""The evaluation: does each column know the facts before and after the policy edits, and in whose voice?

Every backend answers every question twice: on the corpus as shipped (phase `before`) and with all
prepared edits applied (phase `after`). An answer is right in a phase when it contains one of that
phase's strings (case-insensitive) and the first figure of its kind is that one (gives); it is in the
brand voice when it opens with "Hey trailblazer!" and closes with "Happy trails! — The Larkspur crew".
"""
from __future__ import annotations

import datetime
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..builtin import grounded_passages
from ..documents.convert import has_text
from ..documents.edits import PREPARED_EDITS
from ..knowledge import KnowledgeBase
from ..loading import load_knowledge_parts
from ..model.weights import cpu_name
from ..playground import Playground
from ..registry import backend_names, get_backend
from ..settings import ROOT
from ..training.pairs import Voice
from ..user_files import csv_rows, json_lines, text_of

HELD_OUT = ROOT / "training_data" / "heldout.jsonl"
LARKSPUR = Voice("Hey trailblazer!", "Happy trails! — The Larkspur crew")  # the brand voice


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def edited(self) -> bool:
        return set(self.before) != set(self.after)


def load_questions(path: str | Path) -> list[Question]:
    """Reads a questions file (JSON Lines or CSV, see parse_questions); a bad line raises ValueError
    naming the line and the fault."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No questions file at {path}")
    return parse_questions(path.name, path.read_bytes())


def parse_questions(name: str, data: bytes) -> list[Question]:
    """Questions with the strings an answer must hold to be right.

    JSON Lines: one object a line, `question` and `before` (a list of acceptable strings; `answers`
    is the same), optionally `after` (what is right once the documents are edited) and `id`.
    CSV: a header with `question` and `answers` (acceptable strings separated by `|`), optionally
    `after` and `id`. Without `after` a question's answer is the same in both phases."""
    text = text_of(name, data)
    rows = (_csv_rows(name, text) if name.lower().endswith(".csv")
            else json_lines(name, text, '{"id", "question", "before", "after"}'))
    questions, seen = [], set()
    for where, row in rows:
        question = row.get("question")
        if not isinstance(question, str) or not has_text(question):
            raise ValueError(f"{where}: question must be a non-empty string")
        named = "before" if "before" in row else "answers"  # the messages name the field the user wrote
        before = row.get(named)
        if before is None:
            raise ValueError(f"{where}: missing before (or answers), the strings a right answer holds")
        after = row.get("after", before)
        for phase, value in ((named, before), ("after", after)):
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and has_text(v) for v in value):
                raise ValueError(f"{where}: {phase} must be a non-empty list of strings")
        qid = str(row.get("id") or f"q{len(questions) + 1}")
        if qid in seen:
            raise ValueError(f"{where}: id {qid!r} is used twice")
        seen.add(qid)
        questions.append(Question(qid, question.strip(), tuple(before), tuple(after)))
    if not questions:
        raise ValueError(f"{name} holds no questions")
    return questions


def _csv_rows(name: str, text: str):
    split = lambda cell: [s.strip() for s in cell.split("|") if s.strip()] or cell  # noqa: E731
    for where, row in csv_rows(name, text, ("question", "answers")):
        out = {"question": row["question"], "answers": split(row["answers"]), "id": row.get("id")}
        if row.get("after"):
            out["after"] = split(row["after"])
        yield where, out


def recorded_summaries(adapters: dict) -> list[tuple[str, object, list[dict]]]:
    """(name, info, summary) of each attached adapter whose manifest carries a recorded evaluation
    (make adapter, or python -m backends eval --record)."""
    found = []
    for name, info in adapters.items():
        summary = (info.manifest.get("evaluation") or {}).get("summary")
        if summary:
            found.append((name, info, summary))
    return found


def in_brand_voice(text: str) -> bool:
    return LARKSPUR.speaks(text)


def trained_voice(playground: Playground) -> Voice:
    """The voice the Fine-tuned column's adapter was trained to speak in: the one its manifest records
    (an adapter made on the Fine-tune page), else Larkspur's (the shipped adapter's)."""
    adapter = playground.adapter_for(get_backend("Fine-tuned"))
    info = playground.engine.adapters.get(adapter) if adapter else None
    voice = info.manifest.get("voice") if info else None
    if isinstance(voice, list) and len(voice) == 2 and all(isinstance(v, str) for v in voice) and any(voice):
        return Voice(*voice)
    return LARKSPUR


def gives(answer: str, expected: list[str]) -> bool:
    """Whether an answer gives the expected figure as its answer: the text is in it, and the first figure of
    that kind it states is that one. "30 or 14 days" does not give 14 days, nor "$35 … $65 tune-ups" $65;
    "30 days to return, refunds in 5 business days" gives 30 days. Expected strings without a figure are
    matched as text."""
    from .grounding import claims
    text = answer.lower()
    if not any(s.lower() in text for s in expected):
        return False
    wanted = {c.key for s in expected for c in claims(s)}
    kinds = {_kind(k) for k in wanted}
    first = next((c.key for c in claims(answer) if _kind(c.key) in kinds), None)
    return first is None or first in wanted


def held(sources, expected: list[str]) -> bool:
    """Whether the passages an answer was written from held the answer: one of the expected strings is in
    what the grounded prompt quoted of them (their highlights, where it quoted only those). A grounded miss
    where they did is the model's reading; where they did not, retrieval's. Unlike gives, a passage may
    state other figures first: "8am to 8pm" holds the closing time."""
    quoted = grounded_passages(sources).lower()
    return any(e.lower() in quoted for e in expected)


def _kind(key: tuple) -> tuple:
    """A claim's kind of figure: durations and measures by family (days, minutes, metres), others by kind."""
    kind, value = key
    return (kind, value[0]) if kind in ("duration", "measure") and isinstance(value, tuple) else (kind,)


def evaluate(playground: Playground, questions: list[Question], names: list[str] | None = None,
             progress: Callable[[int, int], None] | None = None, documents: KnowledgeBase | None = None) -> dict:
    """Every column on every question: on the shipped documents (before) and with the four prepared
    edits applied (after); or, given a session's own `documents`, once, on them as they are (now)."""
    settings = playground.settings
    names = names or backend_names()
    voice = trained_voice(playground)  # an adapter of the user's own is scored in its own voice
    if documents is not None:
        phases = [("now", documents)]
    else:
        store, embedder = load_knowledge_parts(settings)
        shipped = KnowledgeBase.create(settings, store, embedder)
        edited = KnowledgeBase.create(settings, store, embedder)
        for edit in PREPARED_EDITS:
            edited.apply_edit(edit)
        phases = [("before", shipped), ("after", edited)]
    rows, done, total = [], 0, len(phases) * len(questions)
    for phase, kb in phases:
        for question in questions:
            expected = question.after if phase == "after" else question.before
            for answer in playground.ask(question.question, kb, names):
                text = answer.text.lower()
                rows.append({"id": question.id, "phase": phase, "backend": answer.backend,
                             "answer": answer.text or answer.error, "fact_ok": gives(answer.text, expected),
                             "style_ok": voice.speaks(answer.text), "total_ms": answer.timings.total_ms,
                             "found": (held(answer.sources, expected) if get_backend(answer.backend).uses_retrieval
                                       and not answer.error else None),
                             "stale": (phase == "after" and question.edited
                                       and any(s.lower() in text for s in question.before)),
                             "edited_fact": question.edited, "error": bool(answer.error)})
            done += 1
            if progress:
                progress(done, total)
    return {"rows": [{k: r[k] for k in ("id", "phase", "backend", "answer", "fact_ok", "found", "style_ok", "total_ms")}
                     for r in rows], "summary": _summary(rows, names),
            "measured_on": f"{cpu_name()}, {playground.engine.label}", "reading": reading_settings(settings),
            "voice": [voice.greeting, voice.sign_off]}


READING = ("top_k", "key_sentences", "candidates", "contrast", "max_new_tokens")  # the settings that shape answers


def reading_settings(settings) -> dict:
    """The settings an evaluation's figures depend on besides the model: how the columns read and write."""
    return {name: getattr(settings, name) for name in READING}


def record_evaluation(folder: Path, result: dict) -> dict:
    """Writes a held-out evaluation into the manifest of the adapter in `folder`, where the tour and the
    decision guide cite it: its summary, when, on what machine and with which reading settings."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["evaluation"] = {"questions": str(HELD_OUT.relative_to(ROOT)),
                              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                              "measured_on": result.get("measured_on"), "reading": result.get("reading"),
                              "summary": result["summary"]}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def recorded_source(name: str, info) -> str:
    """How a recorded evaluation is cited: for which adapter, when, on what machine."""
    recorded = info.manifest.get("evaluation") or {}
    date = (recorded.get("date") or info.manifest.get("date") or "?")[:10]
    where = f", {recorded['measured_on']}" if recorded.get("measured_on") else ""
    return f"recorded with adapter {name} ({date}{where})"


def _summary(rows: list[dict], names: list[str]) -> list[dict]:
    def share(part, whole):
        return round(len(part) / len(whole), 3) if whole else None

    summary = []
    for phase in dict.fromkeys(r["phase"] for r in rows):
        for name in names:
            mine = [r for r in rows if r["phase"] == phase and r["backend"] == name]
            answered = [r for r in mine if not r["error"]]
            edited = [r for r in answered if r["edited_fact"]]
            grounded = [r for r in answered if r["found"] is not None]
            found = [r for r in grounded if r["found"]]
            summary.append({
                "phase": phase, "backend": name, "questions": len(mine), "answered": len(answered),
                "fact_accuracy": share([r for r in answered if r["fact_ok"]], answered),
                "found_rate": share(found, grounded),  # the passages held the answer (RAG, Hybrid)
                "right_when_found": share([r for r in found if r["fact_ok"]], found),
                "style_rate": share([r for r in answered if r["style_ok"]], answered),
                "median_total_ms": round(statistics.median(r["total_ms"] for r in answered), 1) if answered else None,
                "stale_rate": share([r for r in edited if r["stale"]], edited) if phase == "after" else None,
            })
    return summary


def format_table(result: dict) -> str:
    percent = lambda v: "—" if v is None else f"{v:.0%}"  # noqa: E731
    lines = [f"{'phase':7} {'backend':11} {'answered':>8} {'facts right':>11} {'held it':>7} {'right when held':>15} "
             f"{'brand voice':>11} {'stale':>6} {'median ms':>10}"]
    for s in result["summary"]:
        ms = "—" if s["median_total_ms"] is None else f"{s['median_total_ms']:.0f}"
        lines.append(f"{s['phase']:7} {s['backend']:11} {s['answered']:>4}/{s['questions']:<3} "
                     f"{percent(s['fact_accuracy']):>11} {percent(s.get('found_rate')):>7} "
                     f"{percent(s.get('right_when_found')):>15} {percent(s['style_rate']):>11} "
                     f"{percent(s['stale_rate']):>6} {ms:>10}")
    lines.append("facts right: answers whose first figure of the kind asked is the phase's expected one; "
                 "held it (RAG, Hybrid): the passages the answer was written from hold the expected answer; "
                 "right when held: facts right among those; stale: after the edits, answers to edited facts that "
                 "still give the old figure.")
    if result.get("measured_on"):
        lines.append(f"measured on: {result['measured_on']}")
    return "\n".join(lines)
