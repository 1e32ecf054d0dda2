"""The in-process engine and vLLM side by side, on the same questions (part of `make bench`, where vLLM
is installed): one visitor's four columns, crowds of visitors asking at once, and how many answers the
two engines give word for word alike (greedy on both).

Run alone: `python -m benchmarks.engines`. The in-process figures are taken before the server starts,
so its processes take no core from them.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from backends.loading import load_engine, load_knowledge_parts
from backends.playground import Playground
from backends.settings import Settings
from benchmarks.crowd import VISITOR_QUESTIONS, visitor_sessions


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def _crowd(playground: Playground, sessions, tokens: int, runs: int) -> dict:
    """Every session asks at the same moment; the time each waits for its last column."""
    waits, failed = [], []
    for _ in range(runs):
        gate, took = threading.Barrier(len(sessions)), [0.0] * len(sessions)

        def visit(i, gate=gate, took=took):
            gate.wait()
            started = time.perf_counter()
            answers = playground.ask(*sessions[i], max_new_tokens=tokens, force_tokens=True)
            took[i] = time.perf_counter() - started
            failed.extend(a.error for a in answers if a.error)  # counted, not hidden: a crowd may time out
        threads = [threading.Thread(target=visit, args=(i,)) for i in range(len(sessions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        waits += took
    return {"p50_s": round(statistics.median(waits), 2), "p95_s": round(_p95(waits), 2),
            "failed_answers": len(failed), "first_failure": failed[0] if failed else None}


def measure(playground: Playground, sessions, crowds: tuple[int, ...], tokens: int, runs: int) -> dict:
    """One visitor alone (the median of runs), then each crowd, for one engine."""
    question, kb = sessions[0]
    playground.ask(question, kb, max_new_tokens=tokens, force_tokens=True)  # warm-up
    alone = []
    for _ in range(runs):
        started = time.perf_counter()
        playground.ask(question, kb, max_new_tokens=tokens, force_tokens=True)
        alone.append(time.perf_counter() - started)
    result = {"alone_s": round(statistics.median(alone), 2)}
    for count in crowds:
        figures = _crowd(playground, sessions[:count], tokens, runs if count <= 8 else 1)
        result[f"crowd_{count}"] = figures | {"p95_over_alone": round(figures["p95_s"] / result["alone_s"], 2)}
    return result


def answers(playground: Playground, sessions) -> list[dict[str, str]]:
    """Each visitor's own question, answered as the app answers it (greedy, to its natural end)."""
    return [{a.backend: a.text for a in playground.ask(question, kb)} for question, kb in sessions]


def side_by_side(settings: Settings, crowds: tuple[int, ...] = (8, 32), tokens: int = 64, runs: int = 2) -> dict:
    from backends.model.vllm_server import VENV, start_server, stop_server
    if not (VENV / "bin" / "python").is_file():
        return {"skipped": "vLLM is not installed (make vllm-install)"}
    store, embedder = load_knowledge_parts(settings)
    sessions = visitor_sessions(settings, store, embedder, max(crowds))
    here = Playground(load_engine(settings), settings)
    result = {"tokens": tokens, "in_process": measure(here, sessions, crowds, tokens, runs)}
    own = answers(here, sessions[:len(VISITOR_QUESTIONS)])
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(_port(), Path(folder) / "server.log")
        try:
            served_settings = settings.with_(server=url, server_timeout=3600)  # a crowd queues for minutes here
            served = Playground(load_engine(served_settings), served_settings)
            result["vllm"] = measure(served, sessions, crowds, tokens, runs)
            theirs = answers(served, sessions[:len(VISITOR_QUESTIONS)])
        finally:
            stop_server(process)
    pairs = [(column, a[column], b.get(column)) for a, b in zip(own, theirs) for column in a]
    result["same_words"] = {"answers": len(pairs), "alike": sum(x == y for _, x, y in pairs),
                            "by_column": {c: sum(x == y for col, x, y in pairs if col == c)
                                          for c in dict.fromkeys(c for c, _, _ in pairs)}}
    result["differing_examples"] = [{"column": c, "in_process": x, "vllm": y} for c, x, y in pairs if x != y][:4]
    return result


def _port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def format_table(result: dict) -> str:
    """The README's crowd table."""
    if "skipped" in result:
        return result["skipped"]
    rows = ["| engine | one visitor, four columns | crowd of 8: p50 / p95 (p95 ÷ alone) "
            "| crowd of 32: p50 / p95 (p95 ÷ alone) |", "|---|---|---|---|"]
    for name, key in (("in the app's process", "in_process"), ("vLLM (CPU build)", "vllm")):
        r = result[key]
        cells = [f"{r[c]['p50_s']} / {r[c]['p95_s']} s ({r[c]['p95_over_alone']}×)"
                 + (f", {r[c]['failed_answers']} answers failed" if r[c]["failed_answers"] else "")
                 for c in ("crowd_8", "crowd_32")]
        rows.append(f"| {name} | {r['alone_s']} s | " + " | ".join(cells) + " |")
    same = result["same_words"]
    rows.append(f"\n{same['alike']} of {same['answers']} answers the same word for word ({same['by_column']}).")
    return "\n".join(rows)


if __name__ == "__main__":
    measured = side_by_side(Settings.load())
    print(json.dumps(measured, indent=2, ensure_ascii=False))
    print(format_table(measured))
