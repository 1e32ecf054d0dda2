"""The reader merged into the base model: a LoRA trained on made-up documents to answer from passages
(training/reader.py), folded into the weights once at load, so every column (and every adapter trained
on top) gets a base model that reads, at no cost per token.

The merged model is a different model: its fingerprint names the reader's weights too, so an adapter
trained on the untouched base is refused on it, and one trained on it is refused on the untouched base.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from .adapters import AdapterProblem, check_adapter
from .weights import ModelSource, WeightsUnavailable

HOW_TO_GET_IT = "Train it with `make reader`, or set reader to empty for the untouched model."
DESCRIPTION = "taught to answer from passages on made-up documents; it has never seen Larkspur's"


def merge_reader(model, source: ModelSource, folder: Path):
    """Returns (the model with the reader's LoRA folded into its weights, the merged model's source)."""
    try:
        check_adapter(folder, source.fingerprint, HOW_TO_GET_IT)
    except AdapterProblem as err:
        raise WeightsUnavailable(f"The reader cannot be used: {err}") from err
    from peft import PeftModel
    merged = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    digest = hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]
    return merged, replace(source, label=f"{source.label}, with the reader {folder.name}",
                           fingerprint=f"{source.fingerprint}+reader:{digest}", gguf_file=None)
