"""Visitors through the real Streamlit server: browser sessions, each with its own question (every
other one on documents it has edited), first one at a time, then all pressing Ask at once. What each
waits from its click to its four finished answers, and whether every page shows the answers it got
alone. The bench's `visitors` measures the same on the playground object; this is the app as served.

Needs Playwright (a development dependency) and Debian's Chromium; without them it says so.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.cloud import chromium, start_server
from benchmarks.crowd import VISITOR_EDITS as EDITS
from benchmarks.crowd import VISITOR_QUESTIONS as QUESTIONS

COLUMNS = ("base", "rag", "fine-tuned", "hybrid")  # the answer boxes' keys (ui/answers.py: answer-<column>-now)
WAIT_S = 300


def served_visitors(count: int = 8, runs: int = 2, tokens: int = 64, url: str | None = None, browser=None) -> dict:
    """`count` sessions of a server (started here unless `url` is given, answers of at most `tokens`),
    in `browser` (else a Chromium started here). Gives the waits' p50 and p95 beside one session alone
    and whether every answer equals the one that session got alone."""
    if browser is None and not chromium():
        return {"skipped": "Debian's chromium is not installed (apt-get install chromium)"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "Playwright is not installed (pip install -r requirements-dev.txt)"}
    server = None
    try:
        if url is None:
            server, url = start_server(PLAYGROUND_MAX_NEW_TOKENS=str(tokens))
        if browser is not None:
            return _measure(browser, url, count, runs)
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
            launched = playwright.chromium.launch(executable_path=_nice(chromium(), Path(folder)),
                                                  args=["--no-sandbox", "--disable-gpu"])
            try:
                return _measure(launched, url, count, runs)
            finally:
                launched.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def _nice(executable: str, folder: Path) -> str:
    """A launcher of `executable` at the lowest CPU priority: a visitor's browser draws its page on the
    visitor's own machine, so here its drawing should not take the server's cores from decoding."""
    launcher = folder / "chromium-nice"
    launcher.write_text(f'#!/bin/sh\nexec nice -n 19 "{executable}" "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)


def _measure(browser, url: str, count: int, runs: int) -> dict:
    pages = []
    for i in range(count):
        page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
        edit = EDITS[(i // 2) % len(EDITS)] if i % 2 else None
        page.goto(f"{url}/?" + urlencode({"q": QUESTIONS[i % len(QUESTIONS)], "edit": edit or EDITS[0]}))
        page.get_by_role("button", name="Ask", exact=True).wait_for(timeout=WAIT_S * 1000)
        if edit:  # its documents edited (answered before and after), untimed
            _press_and_wait([page], "Edit the policy")
        pages.append(page)
    alone, alone_s = [], []
    for page in pages:
        alone_s += _press_and_wait([page], "Ask")
        alone.append(_answers(page))
    waits, same = [], True
    for _ in range(runs):
        waits += _press_and_wait(pages, "Ask")
        same = same and [_answers(p) for p in pages] == alone
    for page in pages:
        page.context.close()
    waits.sort()
    p95 = waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]
    return {"sessions": count, "runs": runs, "alone_s": round(statistics.median(alone_s), 2),
            "p50_s": round(statistics.median(waits), 2), "p95_s": round(p95, 2),
            "p95_over_alone": round(p95 / statistics.median(alone_s), 2),
            "answers_same_as_alone": same, "answered": all(all(a) for a in alone),
            "how": ("Chromium sessions (at the lowest CPU priority, as if on the visitors' own machines) against the "
                    "Streamlit server: each waits from its click to its four finished answers")}


def _press_and_wait(pages: list, button: str) -> list[float]:
    """Presses `button` on every page, one after another as fast as the browser takes the clicks, then
    polls them all: a page is done once its run has started and it shows the four finished answers
    with Streamlit's running indicator gone. Gives each page's seconds from its click."""
    clicked, started, done = [], [False] * len(pages), [None] * len(pages)
    for page in pages:
        page.get_by_role("button", name=button, exact=button == "Ask").click()  # not "Ask “…”", a suggestion
        clicked.append(time.perf_counter())
    deadline = time.perf_counter() + WAIT_S
    while None in done:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{done.count(None)} of {len(pages)} sessions had no answers after {WAIT_S} s")
        for i, page in enumerate(pages):
            if done[i] is not None:
                continue
            running = page.locator('[data-testid="stStatusWidget"]').count() > 0
            shown = all(page.locator(f".st-key-answer-{c}-now").count() == 1 for c in COLUMNS)
            if not started[i]:
                started[i] = running or not shown
            elif not running and shown:
                done[i] = time.perf_counter() - clicked[i]
        time.sleep(0.1)
    return done


def _answers(page) -> list[str]:
    return [page.locator(f".st-key-answer-{c}-now").inner_text() for c in COLUMNS]


def get_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.served_visitors",
                                     description="Sessions of the real Streamlit server in Chromium, asking at once.")
    parser.add_argument("--visitors", type=int, default=8, help="browser sessions asking at once")
    parser.add_argument("--runs", type=int, default=2, help="timed runs, after each session asked alone")
    parser.add_argument("--tokens", type=int, default=64, help="the longest answer, in new tokens")
    parser.add_argument("--url", help="a server already running (default: one started here)")
    return parser.parse_args(argv)


def main(args) -> int:
    print(json.dumps(served_visitors(args.visitors, args.runs, args.tokens, args.url), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args()))
