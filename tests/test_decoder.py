"""The lean forward pass against PEFT's own, on the real packaged model and a random adapter."""
import pytest
import torch

from backends import Prompt
from backends.decoder import LeanLlama, four_bit
from tests.conftest import make_adapter

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
QUESTIONS = ["What is the capital of France?", "Name three colours of the rainbow, please, in a short list.",
             "Write one sentence about hiking boots and why they need breaking in before a long trip."]


@pytest.fixture(scope="module")
def engine_with_adapter(engine, tmp_path_factory):
    folder = make_adapter(tmp_path_factory.mktemp("adapters") / "lean-random", engine.source.fingerprint, seed=1)
    engine.attach("lean-random", folder)
    return engine


ROWS = [Prompt([SYSTEM, {"role": "user", "content": q}], adapter) for q in QUESTIONS for adapter in (None, "lean-random")]


def test_the_lean_pass_answers_a_mixed_batch_as_peft_answers_each_row(engine_with_adapter):
    """Bit for bit: the rows are compared with PEFT answering each alone, because PEFT's own left-padded
    batch rounds differently (its padded rows drift from the same rows alone by up to a logit)."""
    try:
        engine_with_adapter._lean = False  # the model's own forward, through PEFT
        peft = [engine_with_adapter.generate([row], 24)[0].text for row in ROWS]
        engine_with_adapter._lean = LeanLlama.build(engine_with_adapter.model, four_bits=False)
        assert not engine_with_adapter.lean.four_bits
        assert [g.text for g in engine_with_adapter.generate(ROWS, 24)] == peft
        assert peft[0] != peft[1]  # the adapter rows really differ
    finally:
        engine_with_adapter._lean = None  # rebuilt as usual on next use


def test_the_packaged_model_decodes_with_its_own_four_bit_groups(engine):
    assert engine.lean and engine.lean.four_bits and "4-bit" in engine.label
    weight = engine.model.get_base_model().model.layers[0].mlp.down_proj.base_layer.weight \
        if hasattr(engine.model, "get_base_model") else engine.model.model.layers[0].mlp.down_proj.weight
    packed, scales_zeros = four_bit(weight)
    x = torch.randn(4, weight.shape[1], dtype=weight.dtype)
    full = (x @ weight.T).float()
    fast = torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, 32, scales_zeros).float()
    assert (fast - full).abs().max() < 0.02 * full.abs().max()


def test_weights_that_are_not_four_bit_groups_are_left_alone():
    assert four_bit(torch.randn(64, 128, dtype=torch.bfloat16)) is None
