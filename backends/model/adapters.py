"""LoRA adapters on disk: PEFT's standard folder plus a manifest the loader checks.

An adapter folder holds `adapter_config.json`, `adapter_model.safetensors` and `manifest.json`.
The manifest names the base model's fingerprint, so an adapter trained on other weights is refused
instead of silently producing nonsense.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MANIFEST_FORMAT = "rag-vs-finetune adapter v1"
HOW_TO_GET_ONE = "Train one with `make adapter` (see docs/fine-tuning.md)."


class AdapterProblem(Exception):
    """An adapter that cannot be used, with a message a user can act on."""


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    manifest: dict

    @property
    def corpus_version(self) -> str | None:
        return self.manifest.get("corpus_version")


def check_adapter(path: Path, base_fingerprint: str, how_to_get_one: str = HOW_TO_GET_ONE) -> AdapterInfo:
    """Validates an adapter folder without touching the model; raises AdapterProblem."""
    HOW_TO_GET_ONE = how_to_get_one  # noqa: N806  (each message below ends with it)
    name = path.name
    if not path.is_dir():
        raise AdapterProblem(f"No adapter is installed at {path}. {HOW_TO_GET_ONE}")
    for needed in ("adapter_config.json", "adapter_model.safetensors", "manifest.json"):
        if not (path / needed).is_file():
            raise AdapterProblem(f"Adapter folder {path} is incomplete: {needed} is missing. {HOW_TO_GET_ONE}")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        config = json.loads((path / "adapter_config.json").read_text())
    except ValueError as err:
        raise AdapterProblem(f"Adapter folder {path} is corrupt: {err}. {HOW_TO_GET_ONE}") from err
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        found = config.get("peft_type") if isinstance(config, dict) else None
        raise AdapterProblem(f"Adapter {name}: adapter_config.json is not a LoRA adapter's "
                             f"(peft_type {found!r}). {HOW_TO_GET_ONE}")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise AdapterProblem(f"Adapter {name}: manifest format {found!r} is not {MANIFEST_FORMAT!r}. {HOW_TO_GET_ONE}")
    trained_on = manifest.get("base_model", {}).get("fingerprint")
    if trained_on != base_fingerprint:
        raise AdapterProblem(
            f"Adapter {name} was trained on base model {trained_on!r}, but the loaded base model is "
            f"{base_fingerprint!r}. Load the matching base model or retrain the adapter. {HOW_TO_GET_ONE}")
    try:
        from safetensors import safe_open
        with safe_open(str(path / "adapter_model.safetensors"), framework="pt") as weights:
            if not list(weights.keys()):
                raise AdapterProblem(f"Adapter folder {path} holds no weights. {HOW_TO_GET_ONE}")
            broken = next((k for k in weights.keys() if not weights.get_tensor(k).isfinite().all()), None)
            if broken:  # NaN or infinite weights would answer "<|endoftext|>" over and over
                raise AdapterProblem(f"Adapter {name} has weights that are not finite numbers ({broken}). "
                                     f"{HOW_TO_GET_ONE}")
    except AdapterProblem:
        raise
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise AdapterProblem(f"Adapter weights in {path} are corrupt: {err}. {HOW_TO_GET_ONE}") from err
    return AdapterInfo(name, path, manifest)
