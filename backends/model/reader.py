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
from .weights import ModelSource, WeightsUnavailable, four_bit_file

HOW_TO_GET_IT = "Train it with `make reader`, or set reader to empty for the untouched model."
DESCRIPTION = "taught to answer from passages on made-up documents; it has never seen Larkspur's"


def merge_reader(model, source: ModelSource, folder: Path, four_bit_cache: Path | None = None):
    """Returns (the model with the reader's LoRA folded into its weights, the merged model's source).
    With four_bit_cache, also writes into that folder (once) the merged projections rounded to 4-bit groups of 32, as
    the packaged Q4_1 model's are, for decoding with 4-bit weights (decoder.LeanLlama.build)."""
    try:
        check_adapter(folder, source.fingerprint, HOW_TO_GET_IT)
    except AdapterProblem as err:
        raise WeightsUnavailable(f"The reader cannot be used: {err}") from err
    from peft import PeftModel
    merged = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    merged_source = reader_source(source, folder)
    if four_bit_cache is not None:
        path = four_bit_file(four_bit_cache, merged_source.fingerprint)
        if not path.is_file():
            _write_four_bit(merged, path)
    return merged, merged_source


def reader_source(source: ModelSource, folder: Path) -> ModelSource:
    """The merged model's label and fingerprint (the reader's weights named in it), without merging."""
    digest = hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]
    return replace(source, label=f"{source.label}, {DESCRIPTION}",
                   fingerprint=f"{source.fingerprint}+reader:{digest}", gguf_file=None)


def _write_four_bit(model, path: Path) -> None:
    """The merged model's projections, each group of 32 weights rounded to 16 even steps from its
    minimum to its maximum (Q4_1's scheme), in float32, written under a temporary name and renamed."""
    import tempfile

    from safetensors.torch import save_file

    from .fused import GROUP, q4_groups
    rounded = {}
    for name, weight in model.state_dict().items():
        if ".layers." not in name or not name.endswith("proj.weight") or weight.shape[1] % GROUP:
            continue
        q, step, low = q4_groups(weight.float().view(weight.shape[0], -1, GROUP))
        rounded[name] = (q * step + low).view_as(weight).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".writing-", delete=False) as tmp:
        save_file(rounded, tmp.name)
    Path(tmp.name).rename(path)
