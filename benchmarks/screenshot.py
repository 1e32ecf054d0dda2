"""`make screenshot`: the picture in the README, taken from the real app in Chromium.

It starts the app (`streamlit run app.py`) on a free local port, presses "Edit the policy" on the
Playground (the refund window, 30 → 14 days), waits until all four columns have answered before and
after the edit, and saves the page. The answers are the model's own on this machine, so a rerun on
another CPU may word them differently. Needs Debian's Chromium and Playwright (requirements-dev.txt).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backends.settings import ROOT
from benchmarks.cloud import chromium, start_server

WAIT_MS = 300_000
COLUMNS = ("Base", "RAG", "Fine-tuned", "Hybrid")


def take(out: Path, width: int, height: int, tokens: int) -> None:
    """The Playground after the refund edit, as a PNG at `out`."""
    from playwright.sync_api import expect, sync_playwright

    executable = chromium()
    if not executable:
        raise RuntimeError("Debian's chromium is not installed (apt-get install chromium)")
    server, url = start_server(PLAYGROUND_MAX_NEW_TOKENS=str(tokens))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            page.goto(url)
            page.get_by_role("button", name="Edit the policy").click(timeout=WAIT_MS)
            expect(page.get_by_text("After: Refund window: 30 → 14 days").first).to_be_visible(timeout=WAIT_MS)
            cells = [page.locator('[data-testid="stGridCell"]').filter(
                has=page.get_by_role("heading", name=name, exact=True)) for name in COLUMNS]
            for cell in cells:  # the finished page: only it gives each column its verdict on the edit
                expect(cell).to_contain_text("changed", timeout=WAIT_MS)
            page.wait_for_timeout(300)
            expect(page.locator('[data-testid="stStatusWidget"]')).to_be_hidden(timeout=WAIT_MS)
            boxes = [cell.bounding_box() for cell in cells]
            left, top = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
            right, bottom = max(b["x"] + b["width"] for b in boxes), max(b["y"] + b["height"] for b in boxes)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True, clip={  # the four columns, with a margin
                "x": max(left - 16, 0), "y": max(top - 16, 0), "width": right - left + 32, "height": bottom - top + 32})
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def get_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screenshot",
                                     description="Picture the four columns after the refund edit, from the real app.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png", help="the PNG to write")
    parser.add_argument("--width", type=int, default=1600, help="the browser window's width, in pixels")
    # tall enough for all four columns: Streamlit scrolls inside the page, so what is below the window is not drawn
    parser.add_argument("--height", type=int, default=3200, help="the browser window's height, in pixels")
    parser.add_argument("--tokens", type=int, default=64, help="the longest answer, in new tokens")
    return parser.parse_args(argv)


def main(args) -> int:
    try:
        take(args.out, args.width, args.height, args.tokens)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args()))
