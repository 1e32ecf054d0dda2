"""The columns through a real vLLM server, started once for this module as the README starts it
(`python -m backends vllm`), and the faults a column must explain: no server, a server that never
answers, a server of another model, an adapter of another base, a server killed mid-answer.

Skipped where vLLM is not installed (`make vllm-install`), except where REQUIRE_SERVER=1 (as in CI).
The last test kills the server: keep it last.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time

import httpx
import pytest
from conftest import REFUND_QUESTION, ROOT

from backends import Playground
from backends.documents.edits import get_edit
from backends.model.served import ServedEngine
from backends.model.vllm_server import VENV, start_server, stop_server

VOICE = "trailblazer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (VENV / "bin" / "python").is_file():
        if os.environ.get("REQUIRE_SERVER"):
            raise RuntimeError(f"REQUIRE_SERVER is set but vLLM is not installed in {VENV} (make vllm-install)")
        pytest.skip("vLLM is not installed (make vllm-install)")
    process, url = start_server(_free_port(), tmp_path_factory.mktemp("vllm") / "server.log")
    yield {"url": url, "process": process}
    stop_server(process)


@pytest.fixture(scope="module")
def served(server, settings):
    configured = settings.with_(server=server["url"], max_new_tokens=48)
    return ServedEngine.load(configured), configured


def test_four_columns_stream_through_the_server_with_the_voice_and_the_edit(served, kb):
    engine, settings = served
    assert not engine.problem and set(engine.adapters) == {"larkspur-voice"}
    assert f"served by {settings.server}" in engine.label
    seen: dict[str, int] = {}
    answers = Playground(engine, settings).ask(REFUND_QUESTION, kb,
                                               on_text=lambda name, text: seen.update({name: seen.get(name, 0) + 1}))
    by = {a.backend: a for a in answers}
    assert set(seen) == set(by) == {"Base", "RAG", "Fine-tuned", "Hybrid"}
    for answer in answers:
        assert answer.text and not answer.error, (answer.backend, answer.error)
        assert answer.timings.ttft_ms > 0 and answer.timings.new_tokens > 0
    assert VOICE in by["Fine-tuned"].text and VOICE in by["Hybrid"].text
    assert VOICE not in by["Base"].text and VOICE not in by["RAG"].text
    assert by["RAG"].sources and not by["Fine-tuned"].sources
    kb.apply_edit(get_edit("refund-window"))
    after = {a.backend: a for a in Playground(engine, settings).ask(REFUND_QUESTION, kb, ["RAG"])}
    assert any("14 days" in s.text for s in after["RAG"].sources), [s.text for s in after["RAG"].sources]


def test_an_adapter_made_in_the_app_goes_into_the_server_and_out_again(served, tmp_path):
    engine, settings = served
    made = tmp_path / "made-here-voice"
    shutil.copytree(ROOT / "adapters" / "larkspur-voice", made)
    engine.attach(made.name, made)
    assert made.name in engine.adapters, engine.problems.get(made.name)
    listed = httpx.get(f"{settings.server}/models").json()["data"]
    assert any(m["id"] == made.name for m in listed)
    tuned = settings.with_(adapter=made.name)
    answer = Playground(engine, tuned).ask(REFUND_QUESTION, None, ["Fine-tuned"])[0]
    assert VOICE in answer.text, answer.error
    engine.detach(made.name)
    listed = httpx.get(f"{settings.server}/models").json()["data"]
    assert not any(m["id"] == made.name for m in listed) and made.name not in engine.adapters


def test_an_adapter_of_another_base_model_is_refused_naming_both(served, tmp_path):
    engine, _ = served
    other = tmp_path / "other-base"
    shutil.copytree(ROOT / "adapters" / "larkspur-voice", other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["base_model"]["fingerprint"] = "hub:someone/another-model"
    (other / "manifest.json").write_text(json.dumps(manifest))
    engine.attach(other.name, other)
    assert other.name not in engine.adapters
    assert "hub:someone/another-model" in engine.problems[other.name]
    assert engine.source.fingerprint in engine.problems[other.name]


def test_a_server_of_another_model_is_named_in_every_column(server, settings, kb):
    # the app set to the untouched model, the server serving the reader-merged one (the default)
    wanting = settings.with_(server=server["url"], reader="")
    engine = ServedEngine.load(wanting)
    assert "smollm2-135m-instruct-reader" in engine.problem and "gguf:" in engine.problem
    for answer in Playground(engine, wanting).ask(REFUND_QUESTION, kb):
        assert not answer.text and "serves" in answer.error, (answer.backend, answer.error)


def test_no_server_at_all_is_one_sentence_in_every_column(settings):
    configured = settings.with_(server=f"http://127.0.0.1:{_free_port()}/v1")
    engine = ServedEngine.load(configured)
    answers = Playground(engine, configured).ask(REFUND_QUESTION, None, ["Base", "Fine-tuned"])
    for answer in answers:
        assert "cannot be reached" in answer.error and "make vllm" in answer.error, answer.error


def test_a_server_that_never_answers_is_given_up_on_after_the_timeout(settings):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        configured = settings.with_(server=f"http://127.0.0.1:{silent.getsockname()[1]}/v1", server_timeout=2)
        started = time.time()
        engine = ServedEngine.load(configured)
        assert "did not answer within 2 s" in engine.problem
        assert time.time() - started < 10


def test_the_app_in_a_browser_through_the_server_then_the_refund_edit(server, tmp_path):
    """The app started with PLAYGROUND_SERVER, as the README says, asked and edited in Chromium."""
    from benchmarks.cloud import chromium
    from benchmarks.cloud import start_server as start_app
    path = chromium()
    if not path:
        if os.environ.get("REQUIRE_BROWSER"):
            raise RuntimeError("REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright
    wait = 180_000
    with (tmp_path / "streamlit.log").open("w") as log:
        app, url = start_app(log, PLAYGROUND_SERVER=server["url"], PLAYGROUND_MAX_NEW_TOKENS="40")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": 1600, "height": 1400}).new_page()
            page.goto(url)

            def column(name):
                return page.locator('[data-testid="stGridCell"]').filter(
                    has=page.get_by_role("heading", name=name, exact=True))
            page.get_by_role("button", name="Ask", exact=True).click(timeout=wait)
            expect(column("Hybrid")).to_contain_text("tokens in", timeout=wait)
            for name in ("Base", "RAG", "Fine-tuned", "Hybrid"):
                expect(column(name)).to_contain_text(f"served by {server['url']}", timeout=wait)
            for name in ("Fine-tuned", "Hybrid"):
                expect(column(name)).to_contain_text("Hey trailblazer!")
            expect(column("RAG")).to_contain_text("Returns and refunds · version 1")
            page.get_by_role("button", name="Edit the policy").click()
            expect(page.get_by_text("After: Refund window: 30 → 14 days").first).to_be_visible(timeout=wait)
            expect(column("Fine-tuned")).to_contain_text("still says 30 days: learned before the edit", timeout=wait)
            expect(column("RAG")).to_contain_text("Returns and refunds · version 2", timeout=wait)
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=20)


def test_the_bench_times_both_engines_on_the_same_visitors(served, engine, settings, knowledge_parts):
    from benchmarks.crowd import visitor_sessions
    from benchmarks.engines import measure
    sessions = visitor_sessions(settings, *knowledge_parts, 2)
    served_engine, served_settings = served
    figures = {"in_process": measure(Playground(engine, settings), sessions, (2,), tokens=2, runs=1),
               "vllm": measure(Playground(served_engine, served_settings), sessions, (2,), tokens=2, runs=1)}
    for measured in figures.values():
        assert measured["crowd_2"]["p95_s"] >= measured["crowd_2"]["p50_s"] > 0 and measured["alone_s"] > 0


def test_the_server_killed_mid_answer_leaves_a_plain_message(served, server):
    engine, settings = served
    first_words = threading.Event()
    killer = threading.Thread(target=lambda: first_words.wait(120) and os.killpg(server["process"].pid, signal.SIGKILL))
    killer.start()
    answers = Playground(engine, settings).ask(REFUND_QUESTION, None, ["Base", "Fine-tuned"], max_new_tokens=512,
                                               force_tokens=True, on_text=lambda name, text: first_words.set())
    killer.join()
    for answer in answers:
        assert not answer.text and "mid-way" in answer.error, (answer.backend, answer.error)
    time.sleep(6)  # past the retry interval: the next question asks the server again, and says it is gone
    again = Playground(engine, settings).ask(REFUND_QUESTION, None, ["Base"])[0]
    assert "cannot be reached" in again.error
