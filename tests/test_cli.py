"""`python -m backends`, as a script or a check would call it."""
import json
import os
import subprocess
import sys

from tests.conftest import REFUND_QUESTION, ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "backends", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PLAYGROUND_MAX_NEW_TOKENS": "24"})


def test_edits_lists_the_four_prepared_edits_refund_first():
    out = run("edits")
    assert out.returncode == 0
    names = [line.split()[0] for line in out.stdout.splitlines() if line and not line.startswith(" ")]
    assert names == ["refund-window", "free-shipping", "support-hours", "membership-price"]


def test_ask_json_after_an_edit_gives_answers_sources_timings_and_provenance():
    out = run("ask", REFUND_QUESTION, "--backend", "Hybrid", "--backend", "Fine-tuned", "--edit", "refund-window", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["edits"] == ["refund-window"]
    rag, tuned = result["answers"]
    assert rag["backend"] == "Hybrid" and "14" in rag["text"]  # Hybrid's wording is alike in both dtypes
    assert rag["sources"][0]["doc_id"] == "returns-and-refunds" and rag["sources"][0]["version"] == 2
    assert set(rag["timings"]) == {"retrieval_ms", "prompt_tokens", "ttft_ms", "generation_ms", "new_tokens", "total_ms"}
    assert rag["provenance"]["model"].startswith("SmolLM2-135M-Instruct")
    assert rag["provenance"]["index_corpus_version"] == result["corpus_version"]
    assert tuned["backend"] == "Fine-tuned" and (tuned["text"] or "make adapter" in tuned["error"])


def test_bad_input_exits_with_a_message():
    for args, message in [(("ask", "  "), "Type a question"), (("ask", "x" * 20_000), "20,000 characters"),
                          (("ask", "hi", "--backend", "Nope"), "known backends"),
                          (("ask", "hi", "--edit", "nope"), "refund-window"),
                          (("train", "--memory-passes", "0"), "memory passes must be at least 1"),
                          (("train", "--reading-passes", "-1"), "reading passes must be at least 1"),
                          (("train", "--alpha", "0"), "alpha must be at least 1")]:
        out = run(*args)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
