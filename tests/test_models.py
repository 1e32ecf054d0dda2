"""Where the weights come from: the packaged GGUF, converted once into the cache folder."""
import json

import torch

from backends.model.weights import load_generator


def test_the_first_start_answers_with_the_same_model_as_every_later_start(settings, tmp_path):
    first, _, source = load_generator(settings.with_(cache_dir=str(tmp_path)))  # empty cache: converts the GGUF
    folder = tmp_path / source.fingerprint.replace(":", "-")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["fingerprint"] == source.fingerprint and (folder / "model.safetensors").is_file()
    later, _, _ = load_generator(settings.with_(cache_dir=str(tmp_path)))
    first_state, later_state = first.state_dict(), later.state_dict()
    assert first_state.keys() == later_state.keys()
    assert all(torch.equal(first_state[k], later_state[k]) for k in first_state)
    # buffers too: casting the whole model once rounded the rotary frequencies, and every answer changed
    assert first.model.rotary_emb.inv_freq.dtype == later.model.rotary_emb.inv_freq.dtype == torch.float32
