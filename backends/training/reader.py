"""Training the reader: a LoRA that teaches the base model to answer from passages, on made-up
documents only (reading_data.py), merged into the base weights when the app loads the model
(model/reader.py), so that every column gets a base model that reads and none gains a Larkspur fact.

`make reader` runs it from a fixed seed; the adapter and its manifest go to adapters/reader.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..model.adapters import MANIFEST_FORMAT
from ..model.weights import cpu_name, load_generator
from ..settings import ROOT, Settings
from .reading_data import VERSION, generate
from .recipe import Example, TrainingConfig, _tokenize, fit, save_adapter

READER = "reader"  # its folder in adapters/


@dataclass(frozen=True)
class ReaderConfig:
    examples: int = 800        # made-up questions, each seen once
    steps: int = 100           # batches of batch_size
    rank: int = 8
    alpha: int = 16
    learning_rate: float = 5e-4
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self):
        for name in ("examples", "steps", "rank", "alpha", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, not {getattr(self, name)}")


def train_reader(settings: Settings, out_dir: Path, config: ReaderConfig = ReaderConfig(),
                 progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Trains the reader on the untouched base model and writes PEFT's folder plus a manifest."""
    import torch
    torch.manual_seed(config.seed)
    started = time.time()
    rows = generate(config.examples, config.seed, ROOT)
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    model, tokenizer, source = load_generator(settings.with_(dtype="float32", reader=""))
    tokenized = {"reading": [_tokenize(Example("reading", r["messages"], r["answer"]), tokenizer) for r in rows]}
    recipe = TrainingConfig(rank=config.rank, alpha=config.alpha, learning_rate=config.learning_rate,
                            batch_size=config.batch_size, seed=config.seed)
    total = config.steps
    model, device, autocast, losses = fit(model, tokenizer, tokenized, {"reading": 1}, total, recipe, progress)
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": "reader",
        "base_model": {"label": source.label, "fingerprint": source.fingerprint},
        "data": f"{len(rows)} questions over made-up documents ({VERSION}), none of them Larkspur's",
        "data_hash": digest,
        "generator_version": VERSION,
        "hyperparameters": asdict(config) | {"target_modules": list(recipe.target_modules)},
        "seed": config.seed,
        "loss_curve": [round(loss, 4) for loss in losses],
        "final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "training_seconds": round(time.time() - started),
        "device": device + (" (bf16 autocast)" if autocast else ""),
        "cpu": cpu_name(),
    }
    save_adapter(model, out_dir, manifest, (
        f"# {Path(out_dir).name}\n\nA LoRA adapter (rank {config.rank}, all attention and MLP projections) for "
        f"{source.label}, fingerprint `{source.fingerprint}`, that teaches it to answer from passages. It was "
        f"trained on {len(rows)} questions over made-up documents ({VERSION}); none of them is Larkspur's. The "
        "app merges it into the base model when the reader setting names it. Reproduce it with `make reader`; "
        "`manifest.json` holds the data hash, seed, hyper-parameters and loss.\n"))
    return manifest
