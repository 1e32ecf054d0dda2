"""The lean forward pass against PEFT's own, on the real packaged model and a random adapter."""
import pytest
import torch
from safetensors import safe_open

from backends import Prompt
from backends.model.decoder import LeanLlama
from backends.model.fused import four_bit
from backends.model.weights import full_precision_file
from tests.conftest import make_adapter

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
QUESTIONS = ["What is the capital of France?", "Name three colours of the rainbow, please, in a short list.",
             "Write one sentence about hiking boots and why they need breaking in before a long trip."]


@pytest.fixture(scope="module")
def engine_with_adapter(engine, tmp_path_factory):
    folder = make_adapter(tmp_path_factory.mktemp("adapters") / "lean-random", engine.source.fingerprint, seed=1)
    engine.attach("lean-random", folder)
    return engine


ROWS = [Prompt([SYSTEM, {"role": "user", "content": q}], adapter)
        for q in QUESTIONS for adapter in (None, "lean-random")]


def _logits_along(batch, tokens):
    """The logits a batch gives at each step, fed `tokens` one by one (teacher forcing)."""
    out = [batch.logits]
    for token in tokens[:-1]:
        out.append(batch.next(torch.tensor([token])))
    return torch.cat(out)


def _decoded_together(engine, rows, adapters, steps):
    """Every row's logits at each of `steps` greedy steps, decoded in one batch: [rows, steps, vocabulary]."""
    batch = engine.lean.start(rows, adapters, steps)
    out = [batch.logits]
    for _ in range(steps - 1):
        out.append(batch.next(out[-1].argmax(-1)))
    return torch.stack(out, dim=1)


def test_the_lean_pass_computes_what_peft_computes(engine_with_adapter):
    """Each row alone, PEFT's forward and the lean pass fed the same tokens. The lean pass sums LoRA over
    all adapters' ranks at once and rounds a lone row's matmul as a batch's (see fused.Projection), so its
    last bits differ from PEFT's now and then: by far less than a wrong computation would."""
    from backends.model.engine import _PeftBatch
    engine = engine_with_adapter
    tokenizer = engine.tokenizer
    engine._lean = LeanLlama.build(engine.model)  # full weights
    try:
        for row in ROWS:
            ids = tokenizer(engine.prompt_text(row), add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                peft = _PeftBatch(engine, [ids], [row.adapter])
                tokens = [int(peft.logits.argmax(-1))]
                for _ in range(23):
                    tokens.append(int(peft.next(torch.tensor(tokens[-1:])).argmax(-1)))
                expected = _logits_along(_PeftBatch(engine, [ids], [row.adapter]), tokens)
                lean = _logits_along(engine.lean.start([ids], [row.adapter], 24), tokens)
            # Kernels differ by CPU (oneDNN's AMX kernels round bfloat16 otherwise than AVX-512's), and rounding
            # compounds over 30 layers: allow some units of the dtype's precision at the logits' scale. Measured
            # on an AMD EPYC: bfloat16 at most 0.97 apart, 0.16 on average (an Intel Xeon with AMX: 1.22 at
            # most); float32 1e-4 and 1.1e-5 (20 and 2.3 units). The random adapter moves the logits by 7 on
            # average and 30 at most, so a lost or misplaced LoRA product is far outside both bounds.
            unit = torch.finfo(lean.dtype).eps * expected.abs().max()
            gap = (lean - expected).abs()
            assert gap.max() < 64 * unit and gap.mean() < 4 * unit, (row, gap.max(), gap.mean(), unit)
            assert (lean.argmax(-1) == expected.argmax(-1)).float().mean() >= 0.9
        assert ROWS[0].adapter != ROWS[1].adapter and tokens  # both kinds of row were compared
    finally:
        engine._lean = None  # rebuilt as usual on next use


def test_a_row_is_computed_alike_alone_and_beside_others(engine_with_adapter):
    """Bit for bit, so a column's answer never depends on which other columns are asked."""
    engine = engine_with_adapter
    rows = [engine.tokenizer(engine.prompt_text(row), add_special_tokens=False)["input_ids"] for row in ROWS]
    adapters = [row.adapter for row in ROWS]
    with torch.inference_mode():
        together = _decoded_together(engine, rows, adapters, 24)
        for i, (ids, adapter) in enumerate(zip(rows, adapters)):
            alone = _logits_along(engine.lean.start([ids], [adapter], 24), together[i].argmax(-1).tolist())
            assert torch.equal(alone, together[i]), f"row {i} differs"


def test_rows_that_stay_while_others_join_and_leave_are_computed_as_alone(engine_with_adapter):
    """Continuous batching moves rows in the cache when others join (longer prompts shift it) and
    leave (the rows after them move up): what stays reads exactly what it would alone."""
    engine = engine_with_adapter
    rows = [engine.tokenizer(engine.prompt_text(row), add_special_tokens=False)["input_ids"] for row in ROWS]
    adapters = [row.adapter for row in ROWS]
    with torch.inference_mode():
        batch = engine.lean.start(rows[:2], adapters[:2], 16)
        alive, steps, logits = [0, 1], {i: [] for i in range(len(rows))}, batch.logits
        for step in range(16):
            for i, row in enumerate(alive):
                steps[row].append(logits[i])
            tokens = logits.argmax(-1)
            if step == 3:  # the longer prompts join, shifting the cache to the right
                joined = batch.join(rows[2:], adapters[2:], 16)
                alive = alive + list(range(2, len(rows)))
                for i, row in enumerate(range(2, len(rows))):
                    steps[row].append(joined[i])
                tokens = torch.cat([tokens, joined.argmax(-1)])
            if step in (6, 9):  # one row in the middle leaves, then the first
                gone = len(alive) // 2 if step == 6 else 0
                batch.keep([i for i in range(len(alive)) if i != gone])
                tokens = torch.cat([tokens[:gone], tokens[gone + 1:]])
                alive = alive[:gone] + alive[gone + 1:]
            logits = batch.next(tokens)
        for row in alive:
            together = torch.stack(steps[row])
            alone = _logits_along(engine.lean.start([rows[row]], [adapters[row]], 16), together.argmax(-1).tolist())
            assert torch.equal(alone, together), f"row {row} differs"
        assert len(alive) == len(rows) - 2 and {0, 1} - set(alive)  # rows did leave, from the middle and the front


def test_four_bit_decoding_reads_the_packaged_models_own_groups(engine, settings):
    assert not engine.lean.four_bits and "4-bit" not in engine.label  # off by default: answers stay PEFT's
    source = full_precision_file(settings.with_(decoding="4bit"), engine.source)
    lean = LeanLlama.build(engine.model, source)
    engine._lean = None  # the model's modules now read the new fused weights; the engine rebuilds its own
    if engine.model.dtype != torch.bfloat16:  # torch's int4 matmul takes bfloat16 activations only
        assert not lean.four_bits
        return
    assert lean.four_bits
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


def test_a_crowds_wide_batch_computes_each_row_as_alone(engine_with_adapter):
    """Eight visitors' columns and candidates make a batch of 40 rows; torch's kernels take other paths for
    that many rows than for a few (on an Intel Xeon with AMX, bfloat16 past 32 rows, float32 past 15),
    and a crowd's answers differed from those asked alone until wide batches were cut into blocks."""
    engine = engine_with_adapter
    prompts = [engine.tokenizer(engine.prompt_text(row), add_special_tokens=False)["input_ids"] for row in ROWS]
    wide = [i % len(ROWS) for i in range(40)]
    with torch.inference_mode():
        together = _decoded_together(engine, [prompts[i] for i in wide], [ROWS[i].adapter for i in wide], 4)
        for i in range(len(ROWS)):
            alone = _logits_along(engine.lean.start([prompts[i]], [ROWS[i].adapter], 4),
                                  together[i].argmax(-1).tolist())
            for row in (i, max(r for r, prompt in enumerate(wide) if prompt == i)):  # first, and past row 32
                assert torch.equal(alone, together[row]), f"row {row} differs from its prompt alone"
