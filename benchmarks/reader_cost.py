"""`python -m benchmarks.reader_cost` (run by `make bench`): what the reader merged into the base model
costs in answer speed and start-up, against the untouched model, on this machine.

Both models are loaded in one process and asked in turn within each run (the order alternating), so
the machine's drift falls on both alike; each answer is forced to N new tokens, on bench's two
questions. The ratios are medians of each run's own ratio. Start-ups are fresh processes, alternated.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from backends.knowledge import KnowledgeBase
from backends.loading import load_engine, load_knowledge_parts
from backends.playground import Playground
from backends.registry import backend_names
from backends.settings import Settings
from benchmarks.bench import QUESTIONS, _start_once


def reader_cost(settings: Settings, tokens: int = 128, runs: int = 3, starts: bool = True) -> dict:
    """{question: {four/single: {reader_s, untouched_s, ratio}}, cold_start_s: {...}} for settings' reader."""
    models = {"reader": settings.with_(reader=settings.reader or "reader"), "untouched": settings.with_(reader="")}
    playgrounds = {tag: Playground(load_engine(s), s) for tag, s in models.items()}
    store, embedder = load_knowledge_parts(settings)
    kb = KnowledgeBase.create(settings, store, embedder)
    asks = {"four_way": backend_names(), "single": ["Base"]}
    result = {"tokens": tokens, "runs": runs, "questions": {}}
    for label, question in QUESTIONS.items():
        times: dict[tuple[str, str], list[float]] = {}
        for playground in playgrounds.values():  # the warm-up
            playground.ask(question, kb, asks["four_way"], max_new_tokens=tokens, force_tokens=True)
        for run in range(runs):  # not bench._interleaved: which model goes first alternates, for a two-way ratio
            order = list(playgrounds.items())
            for tag, playground in (order if run % 2 == 0 else order[::-1]):
                for what, names in asks.items():
                    started = time.perf_counter()
                    playground.ask(question, kb, names, max_new_tokens=tokens, force_tokens=True)
                    times.setdefault((what, tag), []).append(time.perf_counter() - started)
        result["questions"][label] = {what: {
            "reader_s": round(statistics.median(times[(what, "reader")]), 3),
            "untouched_s": round(statistics.median(times[(what, "untouched")]), 3),
            "ratio": round(statistics.median(r / u for r, u in zip(times[(what, "reader")],
                                                                   times[(what, "untouched")])), 3),
        } for what in asks}
    if starts:
        result["cold_start_s"] = _cold_starts(models, runs)
    return result


def _cold_starts(models: dict[str, Settings], runs: int) -> dict:
    """Median seconds from a fresh process to its first answer, each model's cached weights already written."""
    seconds: dict[str, list[float]] = {tag: [] for tag in models}
    for run in range(runs):
        for tag in (list(models) if run % 2 == 0 else list(models)[::-1]):
            seconds[tag].append(_start_once(models[tag], models[tag].cache_dir, PLAYGROUND_READER=models[tag].reader))
    return {tag: round(statistics.median(s), 2) for tag, s in seconds.items()}


def format_cost(result: dict) -> str:
    lines = [f"the reader merged against the untouched model, {result['tokens']} new tokens per answer, "
             f"medians of {result['runs']} alternated runs"]
    lines.append(f"{'':12} {'columns':>8} {'reader_s':>9} {'untouched_s':>12} {'reader/untouched':>17}")
    for label, figures in result["questions"].items():
        for what, f in figures.items():
            lines.append(f"{label:12} {what:>8} {f['reader_s']:>9} {f['untouched_s']:>12} {f['ratio']:>17}")
    if "cold_start_s" in result:
        starts = result["cold_start_s"]
        lines.append(f"cold_start_s: reader {starts['reader']}, untouched {starts['untouched']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reader_cost",
                                     description="Time the reader merged against the untouched model.")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per answer (forced)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure, after a warm-up")
    parser.add_argument("--no-starts", action="store_true", help="skip the fresh-process start timings")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = reader_cost(Settings.load(), args.tokens, args.runs, starts=not args.no_starts)
    print(json.dumps(result, indent=2) if args.json else format_cost(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
