"""The reader: trained on made-up documents, merged into the base model for every column by a setting."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import ROOT

from backends import Settings
from backends.model.adapters import check_adapter
from backends.model.engine import Engine
from backends.model.reader import reader_source
from backends.model.weights import WeightsUnavailable, load_generator, resolve_generator
from backends.training.reader import READER, ReaderConfig, train_reader
from backends.training.reading_data import VERSION


@pytest.fixture(scope="module")
def tiny_reader(settings, tmp_path_factory):
    """A reader of one step, trained by the real recipe into a folder of its own beside a copy of the
    shipped voice adapter trained on the untouched model, under the name the reader's columns ask for."""
    folder = tmp_path_factory.mktemp("adapters")
    shutil.copytree(ROOT / "adapters" / "larkspur-voice-untouched", folder / "larkspur-voice")
    manifest = train_reader(settings, folder / READER, ReaderConfig(examples=8, steps=1))
    return folder, manifest


def test_make_reader_writes_an_adapter_and_a_manifest_of_what_it_learned(tiny_reader, settings):
    folder, manifest = tiny_reader
    base = resolve_generator(settings.with_(reader=""))
    assert check_adapter(folder / READER, base.fingerprint).name == READER
    assert manifest["generator_version"] == VERSION and len(manifest["data_hash"]) == 16
    assert manifest["hyperparameters"]["steps"] == 1 and manifest["loss_curve"]
    assert {"date", "cpu", "training_seconds", "final_loss"} <= manifest.keys()
    assert "Larkspur" not in json.dumps(manifest).replace("none of them Larkspur's", "")


def test_the_reader_setting_merges_it_into_every_column_and_names_the_merged_model(tiny_reader, settings):
    folder, _ = tiny_reader
    read = settings.with_(adapters_dir=str(folder), reader=READER)
    plain_model, _, plain = load_generator(settings.with_(reader=""))
    model, _, source = load_generator(read)
    assert source.fingerprint.startswith(plain.fingerprint + "+reader:") and "made-up documents" in source.label
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, plain_model.state_dict()[k])]
    assert any("q_proj" in k for k in changed) and not any("lora" in k for k in model.state_dict())
    # the voice adapter learned on the untouched model: refused on this one, with both models named
    engine = Engine.load(read)
    problem = engine.problems["larkspur-voice"]
    assert plain.fingerprint in problem and source.fingerprint in problem


def test_a_missing_reader_is_one_line_naming_make_reader(settings, tmp_path):
    with pytest.raises(WeightsUnavailable, match="make reader") as caught:
        load_generator(settings.with_(adapters_dir=str(tmp_path), reader=str(tmp_path / READER)))
    assert "\n" not in str(caught.value)


def test_the_reader_decodes_with_4bit_weights_too(tiny_reader, settings, tmp_path):
    """The merged projections rounded to 4-bit groups once, into the cache, and decoded as such."""
    folder, _ = tiny_reader
    read = settings.with_(adapters_dir=str(folder), reader=READER, decoding="4bit", cache_dir=str(tmp_path),
                          dtype="bfloat16")  # torch's int4 matmul scales in bfloat16, on any CPU
    engine = Engine.load(read, adapter_names=())
    assert engine.lean.four_bits and "4-bit" in engine.label and "made-up documents" in engine.label
    assert list(tmp_path.glob("*+reader-*.4bit.safetensors"))


def test_the_shipped_reader_fits_the_packaged_model(settings):
    info = check_adapter(ROOT / "adapters" / READER, resolve_generator(settings.with_(reader="")).fingerprint)
    assert "Larkspur" not in json.dumps(info.manifest["data"]).replace("none of them Larkspur's", "")


def test_the_reader_is_on_by_default_and_one_setting_turns_it_off_with_its_voice(settings):
    """The untouched model gets the shipped voice trained on it; each shipped voice fits its own base."""
    on, off = Settings.load(env={}), Settings.load(env={"PLAYGROUND_READER": ""})
    assert on.reader == READER and on.adapter == on.hybrid_adapter == "larkspur-voice"
    assert off.adapter == off.hybrid_adapter == "larkspur-voice-untouched"
    for chosen in (on, off):
        fingerprint = resolve_generator(chosen).fingerprint
        if chosen.reader:
            fingerprint = reader_source(resolve_generator(chosen), chosen.reader_folder).fingerprint
        assert check_adapter(ROOT / "adapters" / chosen.adapter, fingerprint).name == chosen.adapter
    own = Settings.load(env={"PLAYGROUND_READER": "", "PLAYGROUND_ADAPTER": "oakridge-voice"})
    assert own.adapter == "oakridge-voice"  # an adapter of one's own is left as it is


def test_the_merged_model_is_cached_so_a_later_start_loads_it_without_merging(tiny_reader, settings, tmp_path):
    folder, _ = tiny_reader
    read = settings.with_(adapters_dir=str(folder), reader=READER, cache_dir=str(tmp_path))
    steps: list[str] = []
    first, _, source = load_generator(read, lambda step, _: steps.append(step))
    assert any(s.startswith("Merging the reader") for s in steps)
    assert list(tmp_path.glob("*+reader-*/model.safetensors"))
    steps.clear()
    again, _, cached = load_generator(read, lambda step, _: steps.append(step))
    assert not any(s.startswith("Merging") for s in steps) and cached == source
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in first.state_dict().items())
