"""Training on the real model, cut to a couple of steps: the pipeline and the artefact, not the quality
(the quality is what `make adapter` measures and records in the manifest)."""
import json

from backends import Corpus
from backends.model.adapters import check_adapter
from backends.model.engine import Prompt
from backends.training import DATA_DIR, TrainingConfig, build_examples, read_jsonl, train_adapter


def test_reading_examples_swap_a_fact_in_passages_and_answer_alike(kb, settings):
    facts = {k: v for k, v in json.loads((DATA_DIR / "facts.json").read_text()).items() if not k.startswith("_")}
    pairs = read_jsonl(DATA_DIR / "voice_train.jsonl")
    examples = build_examples(pairs, facts, kb, settings.top_k, seed=0)
    assert build_examples(pairs, facts, kb, settings.top_k, seed=0) == examples  # the seed fixes everything
    memory = [e for e in examples if e.kind == "memory"]
    reading = [e for e in examples if e.kind == "reading"]
    assert len(memory) == len(pairs) and len(reading) > len(pairs) // 2
    swapped = 0
    for example in reading:
        passages = example.messages[-1]["content"]
        for fact in facts.values():
            new = next((alt for alt in fact["alternates"] if alt in example.answer), None)
            if new and fact["value"] not in example.answer:
                assert new in passages
                swapped += 1
    assert swapped > 30
    edits_values = ("14 days of delivery", "orders over $75", "24/7", "$30 a year")
    assert not any(v in e.answer for e in examples for v in edits_values)


def test_training_saves_a_small_peft_adapter_with_a_manifest_the_engine_accepts(engine, settings, tmp_path):
    out = tmp_path / "smoke"
    steps = []
    manifest = train_adapter(settings, out, TrainingConfig(batch_size=2, epochs=1), max_steps=2,
                             progress=lambda step, total, loss: steps.append((step, total, loss)))
    assert [s[:2] for s in steps] == [(1, 2), (2, 2)] and all(s[2] > 0 for s in steps)
    assert manifest["base_model"]["fingerprint"] == engine.source.fingerprint
    assert manifest["corpus_version"] == Corpus.from_folder(settings.corpus_dir).version
    assert len(manifest["data_hash"]) == 16 and manifest["seed"] == 0 and manifest["final_loss"] > 0
    assert manifest["hyperparameters"]["rank"] == 8 and manifest["date"]
    assert (out / "adapter_model.safetensors").stat().st_size < 12_000_000
    assert (out / "README.md").read_text().startswith("# smoke\n")  # the model card names the adapter
    targets = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    assert targets == sorted(targets)  # the same config file from the same run
    check_adapter(out, engine.source.fingerprint)
    engine.attach("smoke", out)
    out_text = engine.generate([Prompt([{"role": "user", "content": "Hi"}], "smoke")], 4)[0]
    assert out_text.new_tokens > 0
