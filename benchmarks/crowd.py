"""Crowds: many sessions asking at once in one process (`visitors`), and the memory of serving while a
training run goes on beside the answers (`served_while_training`). Part of `make bench`."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

from backends.documents.edits import get_edit
from backends.documents.embedding import Embedder
from backends.knowledge import KnowledgeBase
from backends.loading import load_engine, load_knowledge_parts
from backends.playground import Playground
from backends.settings import ROOT, Settings
from benchmarks import cloud


def rss_mb() -> float:
    """This process's resident memory, after giving freed blocks back to the system."""
    from backends.model.engine import _give_back_freed_memory
    _give_back_freed_memory()
    try:
        return cloud.vm_rss_kb("self") / 1024
    except (OSError, StopIteration):  # not Linux
        return float("nan")



VISITOR_QUESTIONS = ("How long do I have to return something?", "Is shipping free?",
                     "When can I reach customer support?", "How much does the Trailhead Club cost?",
                     "Can I rent a tent?", "What does the warranty cover?", "Do you price match?",
                     "Can I use a gift card online?")
VISITOR_EDITS = ("refund-window", "free-shipping", "support-hours", "membership-price")  # every other visitor has one


def visitor_sessions(settings: Settings, store, embedder: Embedder, count: int) -> list[tuple[str, KnowledgeBase]]:
    """count visitors, each with a question of their own, every other one on documents with an edit applied."""
    sessions = []
    for i in range(count):
        kb = KnowledgeBase.create(settings, store, embedder)
        if i % 2:
            kb.apply_edit(get_edit(VISITOR_EDITS[(i // 2) % len(VISITOR_EDITS)]))
        sessions.append((VISITOR_QUESTIONS[i % len(VISITOR_QUESTIONS)], kb))
    return sessions


def visitors(playground: Playground, store, embedder: Embedder, settings: Settings, count: int = 8,
             tokens: int = 64, runs: int = 3) -> dict:
    """`count` sessions asking different questions at the same moment, every other one on documents with
    an edit applied: the time each waits for its last column (p50, p95), beside one session alone, and
    whether every answer equals the one that session gets alone."""
    import threading
    sessions = visitor_sessions(settings, store, embedder, count)

    def ask(question, kb):
        return playground.ask(question, kb, max_new_tokens=tokens, force_tokens=True)
    ask(*sessions[0])  # warm-up
    alone_answers, alone_s = [], []

    def alone_in_a_thread(question, kb):  # as the app asks: from a session's own thread
        started = time.perf_counter()
        alone_answers.append([a.text for a in ask(question, kb)])
        alone_s.append(time.perf_counter() - started)
    for question, kb in sessions:
        thread = threading.Thread(target=alone_in_a_thread, args=(question, kb))
        thread.start()
        thread.join()
    waits, same = [], True

    def visit(i, gate, got, took):
        gate.wait()
        started = time.perf_counter()
        got[i] = [a.text for a in ask(*sessions[i])]
        took[i] = time.perf_counter() - started
    for _ in range(runs):
        gate, got, took = threading.Barrier(count), [None] * count, [0.0] * count
        threads = [threading.Thread(target=visit, args=(i, gate, got, took)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        waits += took
        same = same and got == alone_answers
    waits.sort()
    alone = statistics.median(alone_s)
    p95 = waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]
    return {"sessions": count, "tokens": tokens, "runs": runs, "alone_s": round(alone, 2),
            "p50_s": round(statistics.median(waits), 2), "p95_s": round(p95, 2),
            "p95_over_alone": round(p95 / alone, 2), "widest_batch": playground.engine.widest_batch,
            "answers_same_as_alone": same}


def served_while_training_here(settings: Settings, preset: str = "Quick") -> dict:
    """In this process (a fresh one): the four columns answering the default question over and over
    while a training run of `preset` on the shipped answers goes on beside them, as on a Community
    Cloud app where one visitor fine-tunes and the others ask. The peak of VmRSS, sampled every 0.2 s."""
    import threading

    from backends.training import DATA_DIR, read_jsonl
    from backends.training.jobs import PRESETS, Trainer

    peak, sampling = [0.0], threading.Event()

    def sample():
        while not sampling.wait(0.2):
            peak[0] = max(peak[0], rss_mb())
    threading.Thread(target=sample, daemon=True).start()
    engine = load_engine(settings)
    playground = Playground(engine, settings)
    store, embedder = load_knowledge_parts(settings)
    kb = KnowledgeBase.create(settings, store, embedder)
    alone = []
    for _ in range(2):
        started = time.perf_counter()
        playground.ask(VISITOR_QUESTIONS[0], kb)
        alone.append(time.perf_counter() - started)
    serving = max(peak[0], rss_mb())
    pairs = [{"question": p["question"], "answer": p["answer"]} for p in read_jsonl(DATA_DIR / "voice_train.jsonl")]
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer()
        run = trainer.start(settings.with_(adapters_dir=folder), "bench-while-serving", pairs, PRESETS[preset])
        during = []
        while run.active:
            started = time.perf_counter()
            answers = playground.ask(VISITOR_QUESTIONS[0], kb)
            during.append(time.perf_counter() - started)
            assert not any(a.error for a in answers), [a.error for a in answers]
    sampling.set()
    return {"preset": preset, "state": run.state, "training_s": round(run.elapsed_s), "steps": run.total,
            "serving_mb": round(serving), "peak_while_training_mb": round(peak[0]),
            "answer_alone_s": round(min(alone), 2), "answers_while_training": len(during),
            "median_answer_while_training_s": round(statistics.median(during), 2) if during else None,
            "how": "one process: engine, index, four columns answering in a loop beside the training thread"}


def served_while_training(settings: Settings, preset: str = "Quick") -> dict:
    """served_while_training_here in a fresh process, so nothing the rest of the bench holds counts."""
    import json
    code = ("import json, sys; from backends.settings import Settings; "
            "from benchmarks.crowd import served_while_training_here as f; "
            f"print(json.dumps(f(Settings.load(), {preset!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=3600)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])
