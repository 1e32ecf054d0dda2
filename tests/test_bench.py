"""The benchmark runs and reports every figure the speed targets are judged on (tiny settings: shape, not speed)."""
import json
import os
import subprocess
import sys

from benchmarks.bench import format_bench
from tests.conftest import ROOT


def test_bench_json_reports_every_figure():
    """A one-run, two-token bench with a crowd of two: the shape of its JSON, not its speed."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--tokens", "2", "--runs", "1", "--no-starts",
                          "--no-training", "--no-browser", "--no-engines", "--copies", "3", "--pages", "12",
                          "--visitors", "2", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    for question in ("base_length", "rag_length"):
        figures = result["questions"][question]
        assert figures["columns"] == 4
        assert {"four_way_s", "single_s", "four_way_over_single", "sequential_s", "aggregate_tok_s", "ttft_s",
                "llama_cpp_sequential_s"} <= set(figures)
        assert figures["aggregate_tok_s"] == round(4 * 2 / figures["four_way_s"], 1)
    assert result["questions"]["rag_length"]["prompt_tokens"] > 300  # passages make a RAG-length prompt
    assert 0 < result["edit_to_fresh_s"] < 60 and result["ingest_chunks_per_s"] > 0 and result["peak_rss_mb"] > 100
    assert {"cores", "threads", "dtype", "torch", "transformers", "peft"} <= set(result["machine"])
    sessions = result["sessions"]  # a new session: a private copy of every chunk before, an overlay now
    assert sessions["chunks"] > 100 and sessions["shared_overlay_start_s"] < sessions["private_copy_start_s"]
    crowd = result["visitors"]  # sessions at once, answers as alone
    assert crowd["sessions"] == 2 and crowd["answers_same_as_alone"] is True and crowd["p95_s"] >= crowd["p50_s"] > 0
    upload = result["upload"]
    assert upload["pages"] == 12 and upload["chunks"] > 12 and upload["error"] is None and upload["s"] > 0
    table = format_bench(result)  # the table `make bench` prints
    assert "four/single" in table and "llama_cpp_s" in table and "rag_length" in table


def test_reader_cost_reports_both_models_side_by_side():
    """`make bench`'s second part: the reader merged against the untouched model, the same answers timed in turn."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.reader_cost", "--tokens", "2", "--runs", "1", "--no-starts",
                          "--json"], cwd=ROOT, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    for question in ("base_length", "rag_length"):
        for columns in ("four_way", "single"):
            figures = result["questions"][question][columns]
            assert figures["reader_s"] > 0 and figures["untouched_s"] > 0 and figures["ratio"] > 0
    assert "cold_start_s" not in result
