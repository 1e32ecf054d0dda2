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
    out = run("ask", REFUND_QUESTION, "--backend", "Hybrid", "--backend", "Fine-tuned", "--edit", "refund-window",
              "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["edits"] == ["refund-window"]
    rag, tuned = result["answers"]
    assert rag["backend"] == "Hybrid" and "14" in rag["text"]  # Hybrid's wording is alike in both dtypes
    assert rag["sources"][0]["doc_id"] == "returns-and-refunds" and rag["sources"][0]["version"] == 2
    assert set(rag["timings"]) == {"retrieval_ms", "prompt_tokens", "ttft_ms", "generation_ms", "new_tokens",
                                   "total_ms"}
    assert rag["provenance"]["model"].startswith("SmolLM2-135M-Instruct")
    assert rag["provenance"]["index_corpus_version"] == result["corpus_version"]
    assert tuned["backend"] == "Fine-tuned" and (tuned["text"] or "make adapter" in tuned["error"])


def test_bad_input_exits_with_a_message():
    for args, message in [(("ask", "  "), "Type a question"), (("ask", "x" * 20_000), "20,000 characters"),
                          (("ask", "hi", "--backend", "Nope"), "known backends"),
                          (("ask", "hi", "--edit", "nope"), "refund-window"),
                          (("train", "--memory-passes", "0"), "memory passes must be at least 1"),
                          (("train", "--reading-passes", "-1"), "reading passes must be at least 1"),
                          (("train", "--alpha", "0"), "alpha must be at least 1"),
                          (("reader", "--rank", "0"), "rank must be at least 1"),
                          (("eval", "--record", "--backend", "RAG"), "--record records the whole evaluation")]:
        out = run(*args)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)


def test_ask_with_docs_answers_from_the_given_files_and_names_them(tmp_path):
    from tests import documents_for_tests as make
    (tmp_path / "policy.pdf").write_bytes(make.pdf([
        "Oakridge Bikes returns policy", "You may return a bike within 45 days of delivery for a full refund."]))
    (tmp_path / "handbook.docx").write_bytes(
        make.docx("Oakridge staff handbook", {"Leave": "Staff get 27 days of leave."}))
    out = run("ask", "How many days do I have to return a bike?", "--docs", str(tmp_path / "policy.pdf"),
              str(tmp_path / "handbook.docx"), "--backend", "RAG", "--backend", "Fine-tuned", "--json")
    assert out.returncode == 0, out.stderr
    assert "policy.pdf: added" in out.stderr and "handbook.docx: added" in out.stderr
    rag, tuned = json.loads(out.stdout)["answers"]
    assert rag["sources"][0]["title"] == "policy.pdf" and "45 days" in rag["sources"][0]["text"]
    assert {s["doc_id"] for s in rag["sources"]} <= {"policy", "handbook"}  # the sample is set aside
    assert "not on your documents" in tuned["note"]


def test_ask_with_docs_that_cannot_be_read_says_so_before_loading_anything(tmp_path):
    out = run("ask", "Anything?", "--docs", str(tmp_path / "missing.pdf"))
    assert out.returncode == 2 and "missing.pdf: no such file or folder" in out.stderr
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nothing")
    out = run("ask", "Anything?", "--docs", str(tmp_path / "broken.pdf"), "--backend", "RAG")
    assert out.returncode == 2 and "broken.pdf" in out.stderr and "None of the --docs files" in out.stderr
