"""Work that outlives the page that started it: an evaluation run, a training run.

Each runs in a thread of its own; a page keeps the run object and reads it on every rerun: how much
of the work is done, how long it has taken and is likely to take, and whether it has finished. A
cancel is a request the work checks between two of its steps; nothing here stops a thread.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass(kw_only=True)
class BackgroundRun:
    done: int = 0        # steps finished, of total
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.time()) - self.started

    @property
    def remaining_s(self) -> float | None:
        """From the pace so far; None before the first step is done."""
        if not self.done or not self.total:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)

    def cancel(self) -> None:
        self.cancelled.set()

    def in_background(self, work: Callable[[], None], name: str) -> None:
        """Runs work() in a daemon thread; the run is finished when it returns or raises."""
        def run() -> None:
            try:
                work()
            finally:
                self.finished = time.time()
        threading.Thread(target=run, daemon=True, name=name).start()
