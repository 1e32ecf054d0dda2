"""An evaluation in the background: it outlives the page that started it (a session keeps its run;
changing page and coming back finds it still going, or finished), reports what it is on and how long
is left, and stops between two questions when cancelled."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..background import BackgroundRun


class Stopped(Exception):
    """The evaluation was cancelled; it stops between two questions and keeps nothing."""


@dataclass
class EvaluationRun(BackgroundRun):
    questions: int                 # a phase's questions: total is questions × phases
    result: dict | None = None
    error: str = ""

    @classmethod
    def start(cls, evaluate: Callable[..., dict], questions: int, phases: int) -> "EvaluationRun":
        """Runs evaluate(progress=...) in a thread of its own; `evaluate` gets a progress callback."""
        run = cls(questions, total=questions * phases)

        def progress(done: int, total: int) -> None:
            run.done = done
            if run.cancelled.is_set():
                raise Stopped

        def work() -> None:
            try:
                run.result = evaluate(progress=progress)
            except Stopped:
                pass
            except Exception as err:  # noqa: BLE001  (said on the page; the server goes on)
                run.error = f"{type(err).__name__}: {err}"

        run.in_background(work, "evaluation")
        return run

    @property
    def state(self) -> str:
        if self.finished is None:
            return "cancelling" if self.cancelled.is_set() else "running"
        return "failed" if self.error else "cancelled" if self.result is None else "done"

    @property
    def where(self) -> str:
        """What it is on, in the page's words: "before the edits, question 12 of 32"."""
        if self.total == self.questions:
            return f"question {min(self.done + 1, self.total)} of {self.total}"
        phase = "before the edits" if self.done < self.questions else "after the edits"
        number = self.done % self.questions + 1 if self.done < self.total else self.questions
        return f"{phase}, question {number} of {self.questions}"
