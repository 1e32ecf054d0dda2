"""The evaluation: does each column know the facts before and after the policy edits, and in whose voice?

Every backend answers every question twice: on the corpus as shipped (phase `before`) and with all
prepared edits applied (phase `after`). An answer is right in a phase when it contains one of that
phase's strings (case-insensitive); it is in the brand voice when it opens with "Hey trailblazer!"
and closes with "Happy trails! — The Larkspur crew".
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..documents.edits import PREPARED_EDITS
from ..playground import KnowledgeBase, Playground, load_knowledge_parts
from ..model.weights import cpu_name
from ..registry import backend_names
from ..settings import ROOT

HELD_OUT = ROOT / "training_data" / "heldout.jsonl"
GREETING, SIGN_OFF = "hey trailblazer!", "happy trails! — the larkspur crew"


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
    """Reads a JSON Lines questions file; a bad line raises ValueError naming the line and the fault."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No questions file at {path}")
    questions, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            row = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{where}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected an object like {{\"id\", \"question\", \"before\", \"after\"}}")
        missing = [k for k in ("id", "question", "before", "after") if k not in row]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if not isinstance(row["question"], str) or not row["question"].strip():
            raise ValueError(f"{where}: question must be a non-empty string")
        for phase in ("before", "after"):
            value = row[phase]
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise ValueError(f"{where}: {phase} must be a non-empty list of strings")
        if row["id"] in seen:
            raise ValueError(f"{where}: id {row['id']!r} is used twice")
        seen.add(row["id"])
        questions.append(Question(str(row["id"]), row["question"], tuple(row["before"]), tuple(row["after"])))
    if not questions:
        raise ValueError(f"{path.name} holds no questions")
    return questions


def in_brand_voice(text: str) -> bool:
    text = " ".join(text.lower().split())
    return text.startswith(GREETING) and text.endswith(SIGN_OFF)


def evaluate(playground: Playground, questions: list[Question], names: list[str] | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict:
    settings = playground.settings
    names = names or backend_names()
    store, embedder = load_knowledge_parts(settings)
    shipped = KnowledgeBase.create(settings, store, embedder)
    edited = KnowledgeBase.create(settings, store, embedder)
    for edit in PREPARED_EDITS:
        edited.apply_edit(edit)
    rows, done, total = [], 0, 2 * len(questions)
    for phase, kb in (("before", shipped), ("after", edited)):
        for question in questions:
            expected = question.before if phase == "before" else question.after
            for answer in playground.ask(question.question, kb, names):
                text = answer.text.lower()
                rows.append({"id": question.id, "phase": phase, "backend": answer.backend,
                             "answer": answer.text or answer.error, "fact_ok": any(s.lower() in text for s in expected),
                             "style_ok": in_brand_voice(answer.text), "total_ms": answer.timings.total_ms,
                             "stale": phase == "after" and question.edited and any(s.lower() in text for s in question.before),
                             "edited_fact": question.edited, "error": bool(answer.error)})
            done += 1
            if progress:
                progress(done, total)
    return {"rows": [{k: r[k] for k in ("id", "phase", "backend", "answer", "fact_ok", "style_ok", "total_ms")}
                     for r in rows], "summary": _summary(rows, names),
            "measured_on": f"{cpu_name()}, {playground.engine.label}"}


def _summary(rows: list[dict], names: list[str]) -> list[dict]:
    summary = []
    for phase in ("before", "after"):
        for name in names:
            mine = [r for r in rows if r["phase"] == phase and r["backend"] == name]
            answered = [r for r in mine if not r["error"]]
            edited = [r for r in answered if r["edited_fact"]]
            share = (lambda part, whole: round(len(part) / len(whole), 3) if whole else None)
            summary.append({
                "phase": phase, "backend": name, "questions": len(mine), "answered": len(answered),
                "fact_accuracy": share([r for r in answered if r["fact_ok"]], answered),
                "style_rate": share([r for r in answered if r["style_ok"]], answered),
                "median_total_ms": round(statistics.median(r["total_ms"] for r in answered), 1) if answered else None,
                "stale_rate": share([r for r in edited if r["stale"]], edited) if phase == "after" else None,
            })
    return summary


def format_table(result: dict) -> str:
    percent = lambda v: "—" if v is None else f"{v:.0%}"  # noqa: E731
    lines = [f"{'phase':7} {'backend':11} {'answered':>8} {'facts right':>11} {'brand voice':>11} "
             f"{'stale':>6} {'median ms':>10}"]
    for s in result["summary"]:
        ms = "—" if s["median_total_ms"] is None else f"{s['median_total_ms']:.0f}"
        lines.append(f"{s['phase']:7} {s['backend']:11} {s['answered']:>4}/{s['questions']:<3} "
                     f"{percent(s['fact_accuracy']):>11} {percent(s['style_rate']):>11} "
                     f"{percent(s['stale_rate']):>6} {ms:>10}")
    lines.append("facts right: answers containing the phase's expected figure; stale: after the edits, answers "
                 "to edited facts that still give the old figure.")
    if result.get("measured_on"):
        lines.append(f"measured on: {result['measured_on']}")
    return "\n".join(lines)
