"""The main flow in a real browser against the real Streamlit server, as a new user would run it."""
import os
import shutil
import socket
import subprocess
import sys

import pytest

from backends.evaluation.cloud import healthy
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError("REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts"
WAIT_MS = 180_000


@pytest.fixture(scope="module")
def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
           "PLAYGROUND_MAX_NEW_TOKENS": "40"}
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not healthy(url):
        process.kill()
        pytest.fail(f"Streamlit did not start; see {ARTIFACTS / 'streamlit.log'}")
    yield url
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def column(page, name):
    return page.locator('[data-testid="stColumn"]').filter(has=page.get_by_role("heading", name=name, exact=True))


def ask(page, url):
    page.goto(url)
    page.get_by_role("button", name="Ask").click(timeout=WAIT_MS)
    expect(column(page, "RAG")).to_contain_text("tokens in", timeout=WAIT_MS)


def test_ask_then_edit_the_policy_in_two_sessions(server, browser):
    first = browser.new_context(viewport={"width": 1600, "height": 1400}).new_page()
    ask(first, server)
    expect(column(first, "Hybrid")).to_contain_text("30", timeout=WAIT_MS)  # RAG's wording moves with the CPU
    for name in ("RAG", "Hybrid"):
        expect(column(first, name)).to_contain_text("Returns and refunds · version 1")
    for name in ("Fine-tuned", "Hybrid"):
        expect(column(first, name)).to_contain_text("Hey trailblazer!")
        expect(column(first, name)).to_contain_text("adapter larkspur-voice (learned corpus")
    base_before = first.locator(".st-key-answer-base-now").inner_text()
    tuned_before = first.locator(".st-key-answer-fine-tuned-now").inner_text()
    first.screenshot(path=str(ARTIFACTS / "1-asked.png"), full_page=True)

    first.get_by_role("button", name="Edit the policy").click()
    expect(first.get_by_text("After: Refund window: 30 → 14 days").first).to_be_visible(timeout=WAIT_MS)
    expect(column(first, "Base")).to_contain_text("changed", timeout=WAIT_MS)  # only the finished page says so
    expect(column(first, "Hybrid")).to_contain_text("14", timeout=WAIT_MS)
    for name in ("RAG", "Hybrid"):
        expect(column(first, name)).to_contain_text("Returns and refunds · version 2")
        expect(column(first, name)).to_contain_text("Before the edit")
    for key, text in (("base", base_before), ("fine-tuned", tuned_before)):  # their knowledge did not change
        assert first.locator(f".st-key-answer-{key}-before").inner_text() == text
        assert first.locator(f".st-key-answer-{key}-now").inner_text() == text
    expect(column(first, "Base")).to_contain_text("unchanged")
    expect(column(first, "Fine-tuned")).to_contain_text("Answers from what it learned of corpus")
    first.screenshot(path=str(ARTIFACTS / "2-edited.png"), full_page=True)

    second = browser.new_context(viewport={"width": 1600, "height": 1400}).new_page()
    ask(second, server)  # another session, while the first one holds the edited policy
    expect(column(second, "RAG")).to_contain_text("Returns and refunds · version 1", timeout=WAIT_MS)
    expect(column(second, "Hybrid")).to_contain_text("30")
    expect(column(second, "RAG")).not_to_contain_text("version 2")
    second.screenshot(path=str(ARTIFACTS / "3-second-session.png"), full_page=True)
