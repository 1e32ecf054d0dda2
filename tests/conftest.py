"""Shared fixtures: the real packaged model, loaded once per test session, and fakes for fast unit tests."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backends import (
    Backend,
    KnowledgeBase,
    Playground,
    Settings,
    load_engine,
    load_knowledge_parts,
    register,
    unregister,
)
from backends.model.adapters import MANIFEST_FORMAT
from backends.model.engine import Generation

ROOT = Path(__file__).resolve().parent.parent
REFUND_QUESTION = "How long do I have to return something?"


@pytest.fixture(scope="session")
def settings() -> Settings:
    # The repository's adapters folder, so tests see what users see; answers kept short for speed.
    return Settings.load(
        env={k: v for k, v in os.environ.items() if k.startswith("PLAYGROUND_")}).with_(max_new_tokens=40)


@pytest.fixture(scope="session")
def engine(settings):
    return load_engine(settings)


@pytest.fixture(scope="session")
def knowledge_parts(settings):
    return load_knowledge_parts(settings)


@pytest.fixture
def kb(settings, knowledge_parts) -> KnowledgeBase:
    """A fresh copy of the sample corpus in its own collection, as each browser session gets."""
    return KnowledgeBase.create(settings, *knowledge_parts)


@pytest.fixture
def playground(engine, settings) -> Playground:
    return Playground(engine, settings)


@pytest.fixture
def user_backend():
    """A backend registered the way a user's own would be; removed again after the test."""

    @register
    class Pirate(Backend):
        name = "Pirate"
        description = "The base model told to talk like a pirate."

        def messages(self, question, sources):
            return [{"role": "system", "content": "You are a pirate. Answer like a pirate."},
                    {"role": "user", "content": question}]

    yield Pirate
    unregister("Pirate")


@dataclass
class FakeEngine:
    """Stands in for the model in unit tests of the orchestration: records prompts, answers at once."""
    adapters: dict = field(default_factory=dict)
    problems: dict = field(default_factory=dict)
    prompts: list = field(default_factory=list)
    label = "fake model"

    class source:
        label = "fake model"
        fingerprint = "fake"

    def generate(self, prompts, max_new_tokens, on_text=None, force_tokens=False):
        self.prompts.extend(prompts)
        outputs = []
        for row, prompt in enumerate(prompts):
            text = f"answer {row} with {prompt.adapter or 'no adapter'}"
            if on_text:
                on_text(row, text)
            outputs.append(Generation(text, 10, 4, 1.0, 2.0))
        return outputs


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


def write_manifest(folder: Path, fingerprint: str, corpus_version: str = "test") -> None:
    (folder / "manifest.json").write_text(json.dumps({
        "format": MANIFEST_FORMAT, "base_model": {"fingerprint": fingerprint}, "corpus_version": corpus_version}))


def make_adapter(folder: Path, fingerprint: str, seed: int = 0, corpus_version: str = "test") -> Path:
    """A small random LoRA adapter in PEFT's format, strong enough to change what the model says."""
    import torch
    from peft import LoraConfig
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM").save_pretrained(folder)
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for layer in range(30):
        for module, out_features in (("q_proj", 576), ("v_proj", 192)):
            key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            weights[f"{key}.lora_A.weight"] = torch.randn(4, 576, generator=generator) * 0.1
            weights[f"{key}.lora_B.weight"] = torch.randn(out_features, 4, generator=generator) * 0.1
    save_file(weights, folder / "adapter_model.safetensors")
    write_manifest(folder, fingerprint, corpus_version)
    return folder
