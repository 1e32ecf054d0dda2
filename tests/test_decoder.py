"""The lean forward pass against PEFT's own, on the real packaged model and a random adapter."""
import pytest
import torch
from safetensors import safe_open

from backends import Prompt
from backends.decoder import LeanLlama, four_bit
from backends.models import full_precision_file
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
        engine_with_adapter._lean = LeanLlama.build(engine_with_adapter.model)  # full weights
        assert not engine_with_adapter.lean.four_bits
        assert [g.text for g in engine_with_adapter.generate(ROWS, 24)] == peft
        assert peft[0] != peft[1]  # the adapter rows really differ
    finally:
        engine_with_adapter._lean = None  # rebuilt as usual on next use


def test_four_bit_decoding_reads_the_packaged_models_own_groups(engine, settings):
    assert not engine.lean.four_bits and "4-bit" not in engine.label  # off by default: answers stay PEFT's
    source = full_precision_file(settings.with_(decoding="4bit"), engine.source)
    lean = LeanLlama.build(engine.model, source)
    assert lean.four_bits
    engine._lean = None  # the model's modules now read the new fused weights; the engine rebuilds its own
    with safe_open(str(source), "pt") as exact:
        weight = exact.get_tensor("model.layers.0.mlp.down_proj.weight")
    assert weight.dtype == torch.float32
    packed, scales_zeros = four_bit(weight)
    x = torch.randn(4, weight.shape[1], dtype=torch.bfloat16)
    reference = x.float() @ weight.T
    fast = torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, 32, scales_zeros).float()
    assert (fast - reference).abs().max() < 0.01 * reference.abs().max()


def test_weights_that_are_not_exact_four_bit_groups_are_left_alone():
    assert four_bit(torch.randn(64, 128)) is None  # a full-precision model
    assert four_bit(torch.randn(64, 128).bfloat16()) is None  # rounded weights blur the groups


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("targets, handled", [(["q_proj", "down_proj"], True), (["q_proj", "lm_head"], False)])
def test_adapters_the_lean_pass_cannot_honour_leave_the_model_to_peft(targets, handled):
    from peft import LoraConfig, get_peft_model
    model = get_peft_model(tiny_llama(), LoraConfig(r=2, target_modules=targets), adapter_name="a")
    assert (LeanLlama.build(model) is not None) == handled
