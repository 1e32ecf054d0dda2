"""Training from the app: one run at a time per server, in the background, visible and cancellable.

A run outlives the page that started it (the job belongs to the process, not to a browser session).
It trains into a temporary folder and only a finished run is renamed into the adapters folder, so a
cancelled or failed run leaves nothing a column could pick up. When it finishes, the new adapter is
evaluated on the pairs held out of training and attached to the loaded base model by name.
"""
from __future__ import annotations

import json
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..background import BackgroundRun
from ..documents.corpus import Corpus
from ..settings import Settings
from .pairs import FIGURE, Voice, split_held_out
from .recipe import SHIPPED, Cancelled, TrainingConfig, planned_steps, train_adapter

SECONDS_PER_STEP = 4.0  # measured on a 2-core Xeon with bf16 (batch 8); replaced by this machine's own runs
STEP_TIMES = "step-seconds.json"  # in the cache folder's training/: each preset's seconds a step, measured here


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    config: TrainingConfig
    max_steps: int | None = None


PRESETS = {
    "Quick": Preset("Quick",
                    "40 steps of 4 examples, whatever the data's size: enough to teach a voice, not many facts.",
                    TrainingConfig(epochs=100, batch_size=4, memory_passes=1, reading_passes=1, checkpointing=True),
                    40),
    # the same losses as make adapter's, in a fraction of the memory
    "Full": Preset("Full",
                   "The shipped adapter's recipe (make adapter): two epochs, three passes over the answers.",
                   TrainingConfig(checkpointing=True)),
}


@dataclass
class Run(BackgroundRun):
    name: str
    preset: str
    state: str = "queued"        # queued, training, evaluating, done, cancelled, failed
    losses: list[float] = field(default_factory=list)
    message: str = ""
    evaluation: dict | None = None
    held_out: int = 0            # pairs kept out of training, to score it on
    made_by: str = ""            # the visitor's token (session.visitor): who may see, use and delete it

    @property
    def step(self) -> int:
        return self.done

    @property
    def remaining_s(self) -> float | None:
        return super().remaining_s if self.state == "training" else None

    @property
    def active(self) -> bool:
        return self.state in ("queued", "training", "evaluating")


class Busy(ValueError):
    """Another training run holds the server."""


MADE_IN_APP = "the app's Fine-tune page"


def belongs(maker: str, visitor: str) -> bool:
    """Whether a run or an adapter made by `maker` (a visitor's token) is `visitor`'s to see, use and
    delete: its maker's alone; one that recorded no maker (older adapters, the command line) everyone's."""
    return not maker or maker == visitor


def made_in_app(engine, visitor: str | None = None) -> list[str]:
    """The attached adapters the Fine-tune page made (the only ones it may delete); given a visitor's
    token, those that belong to that visitor."""
    return [name for name, info in engine.adapters.items() if info.manifest.get("made_in") == MADE_IN_APP
            and (visitor is None or belongs(info.manifest.get("made_by", ""), visitor))]


def made_here_dir(settings: Settings) -> Path:
    """Where the Fine-tune page writes what it trains: the cache folder, the session's until it is kept on
    purpose (keep_adapter), never the repository's adapters/ that every visitor's columns read."""
    return Path(settings.cache_dir) / "made-here"


def keep_adapter(engine, name: str, settings: Settings) -> Path:
    """Moves an adapter made on the page into adapters/, where the adapter settings find it after a restart,
    and attaches it from there. An adapter of that name already there is never replaced."""
    if name not in made_in_app(engine):
        raise ValueError(f"{name} was not made on the Fine-tune page.")
    source, target = engine.adapters[name].path, Path(settings.adapters_dir) / name
    if source.resolve() == target.resolve():
        return target
    if target.exists():
        raise ValueError(f"adapters/{name} exists already; delete or rename that folder first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{name}-keeping"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    staging.rename(target)  # whole, or not at all
    engine.attach(name, target)
    shutil.rmtree(source, ignore_errors=True)
    return target


def zipped(folder: Path) -> bytes:
    """An adapter's folder as a zip file, its files under the adapter's name, to take elsewhere."""
    import io
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(folder).iterdir()):
            if path.is_file():
                archive.write(path, f"{Path(folder).name}/{path.name}")
    return buffer.getvalue()


def delete_adapter(engine, name: str) -> None:
    """Detaches an adapter the app made and removes its folder; the shipped one is never touched."""
    if name not in made_in_app(engine):
        raise ValueError(f"{name} was not made on the Fine-tune page; it is not deleted from the app.")
    folder = engine.adapters[name].path
    engine.detach(name)
    shutil.rmtree(folder, ignore_errors=True)


def adapter_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.strip().lower()).strip("-")[:40]
    if not name:
        raise ValueError("Give the adapter a name: letters, digits and dashes.")
    if name in SHIPPED:
        raise ValueError(f"{name} is the shipped adapter; give yours another name.")
    return name


class Trainer:
    """The server's one training slot."""

    def __init__(self):
        self._lock = threading.Lock()
        self.run: Run | None = None
        self.step_seconds: dict[str, float] = {}  # preset name -> seconds a step in this server's last run
        self.made: set[str] = set()  # the adapters this server trained

    def estimate(self, preset: Preset, pairs: int, cache_dir: str) -> tuple[int, float, float, str]:
        """(steps, seconds, seconds a step, where that was measured) of a run: this server's last run
        of the preset, else this machine's (kept in the cache folder), else a figure of another CPU."""
        steps = planned_steps(preset.config, pairs, pairs, preset.max_steps)  # at most one reading example a pair
        per_step, where = self.step_seconds.get(preset.name), "this server's last run"
        if per_step is None:
            try:
                kept = json.loads((Path(cache_dir) / "training" / STEP_TIMES).read_text())[preset.name]
                per_step, where = float(kept["seconds"]), f"this machine, {kept['date']}"
            except (OSError, ValueError, KeyError, TypeError):
                per_step, where = SECONDS_PER_STEP, ("a 2-core CPU with bf16; one without is several times slower, "
                                                     "and this machine's own speed shows after its first run")
        return steps, steps * per_step, per_step, where

    def _remember(self, cache_dir: str, preset: Preset, per_step: float) -> None:
        self.step_seconds[preset.name] = per_step
        path = Path(cache_dir) / "training" / STEP_TIMES
        try:
            kept = json.loads(path.read_text()) if path.is_file() else {}
            kept[preset.name] = {"seconds": round(per_step, 2), "date": time.strftime("%Y-%m-%d")}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(kept, indent=2))
        except (OSError, ValueError):
            pass  # a read-only cache: this server still remembers it until it stops

    def start(self, settings: Settings, name: str, pairs: list[dict], preset: Preset, voice: Voice = Voice(),
              on_done: Callable[[str, Path], None] | None = None, evaluate: Callable | None = None,
              corpus: Corpus | None = None, made_by: str = "", pairs_from: str = "of the user's own") -> Run:
        """Starts a run in the background; Busy if one is under way. on_done(name, folder) attaches it;
        evaluate(name, held_out, voice) scores it on the held-out pairs (held_out_scores); corpus, the
        session's documents, is what it reads passages from (the configured documents by default);
        made_by, the visitor's token, and pairs_from, where the pairs came from ("from pairs.csv"), go
        into its manifest."""
        name = adapter_name(name)
        # kept in adapters/, or made by this server (perhaps another visitor's, in use in their columns); one
        # left in the cache folder by an earlier server, never kept, is that session's and is replaced
        if (Path(settings.adapters_dir) / name).exists() or (
                name in self.made and (made_here_dir(settings) / name).exists()):
            raise ValueError(f"An adapter named {name} exists already; give yours another name, or delete that one "
                             "first (adapters made on this page can be deleted below).")
        with self._lock:
            if self.run and self.run.active:
                raise Busy(f"The server is already training {self.run.name!r} (step {self.run.step} of "
                           f"{self.run.total or '?'}); one run at a time. Wait for it, or cancel it from its page.")
            self.run = Run(name, preset.name, made_by=made_by)
            run = self.run
        wrapped = [{**p, "answer": voice.wrap(p["answer"])} for p in pairs]
        training, held_out = split_held_out(wrapped)
        run.held_out = len(held_out)
        snapshot = corpus.snapshot() if corpus else None
        run.in_background(lambda: self._train(settings, run, training, held_out, preset, voice, on_done, evaluate,
                                              snapshot, pairs_from), f"training {name}")
        return run

    def cancel(self) -> None:
        if self.run is not None:
            self.run.cancel()

    def _train(self, settings, run: Run, training, held_out, preset: Preset, voice, on_done, evaluate, corpus,
               pairs_from) -> None:
        folder = made_here_dir(settings) / run.name
        staging = Path(settings.cache_dir) / "training" / run.name  # never where a column looks for adapters

        first_step = []

        def progress(step, total, loss):
            run.state, run.done, run.total = "training", step, total
            run.losses.append(loss)
            if not first_step:
                first_step.append(time.time())
            if step > 1:  # steps alone: loading the model and building the examples are not a step's cost
                self.step_seconds[preset.name] = (time.time() - first_step[0]) / (step - 1)
        try:
            shutil.rmtree(staging, ignore_errors=True)
            manifest = train_adapter(settings, staging, preset.config, progress, max_steps=preset.max_steps,
                                     pairs=training, cancelled=run.cancelled.is_set, corpus=corpus,
                                     pairs_from=pairs_from)
            manifest |= {"made_in": MADE_IN_APP, "preset": preset.name, "voice": [voice.greeting, voice.sign_off]}
            if run.made_by:
                manifest["made_by"] = run.made_by
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
            shutil.rmtree(folder, ignore_errors=True)
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), folder)  # whole, or not at all
            self.made.add(run.name)
            if on_done:
                on_done(run.name, folder)
            if evaluate:
                run.state = "evaluating"
                run.evaluation = evaluate(run.name, held_out, voice)
                manifest["held_out"] = {"pairs": len(held_out), **run.evaluation}
                (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
            run.state, run.message = "done", (f"Saved {run.name}. Switch it on below to answer with it in your "
                                              "Fine-tuned and Hybrid columns.")
        except Cancelled as stop:
            run.state, run.message = "cancelled", str(stop)
        except Exception as err:  # a failed run is reported on its page, never half-saved
            run.state, run.message = "failed", f"Training failed: {type(err).__name__}: {err}"
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if preset.name in self.step_seconds:
                self._remember(settings.cache_dir, preset, self.step_seconds[preset.name])




def held_out_scores(playground, kb, name: str, held_out: list[dict], voice: Voice) -> dict:
    """The new adapter's Fine-tuned and Hybrid columns on the pairs kept out of training: how many
    answers speak in the voice, and how many give every figure of the expected answer (pairs without
    figures are not counted for facts)."""
    tuned = type(playground)(playground.engine, playground.settings.with_(adapter=name, hybrid_adapter=name))
    scores = {}
    for column in ("Fine-tuned", "Hybrid"):
        voiced = facts = with_figures = 0
        for pair in held_out:
            answer = tuned.ask(pair["question"], kb, [column])[0]
            voiced += voice.speaks(answer.text)
            figures = set(FIGURE.findall(pair["answer"]))
            if figures:
                with_figures += 1
                facts += all(f in answer.text for f in figures)
        scores[column] = {"voice_rate": round(voiced / len(held_out), 3) if voice.greeting or voice.sign_off else None,
                          "facts_right": round(facts / with_figures, 3) if with_figures else None,
                          "with_figures": with_figures}
    return scores


TRAINER = Trainer()  # one per server process
