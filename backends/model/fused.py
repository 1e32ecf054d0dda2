"""The lean decoder's building blocks: fused projections carrying every adapter's LoRA, 4-bit weight
groups, and matmuls fed so that a row computes alike whatever rows are beside it (decoder.py says why).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .weights import cpu_has_amx

GROUP = 32          # weights per 4-bit group
DECODE_ROWS = 8     # up to this many tokens at once a matmul reads 4-bit weights; prefill keeps the full ones
GROUPS = {"qkv": ("self_attn", ("q_proj", "k_proj", "v_proj")), "o": ("self_attn", ("o_proj",)),
          "gate_up": ("mlp", ("gate_proj", "up_proj")), "down": ("mlp", ("down_proj",))}


# How torch's CPU matmul must be fed for a row to be computed alike whatever rows are beside it, by
# dtype: bfloat16 takes another path for one row than for several, and with AMX another again past 32
# rows; float32 works in blocks of four rows, with other paths for a short block and, with AMX, past
# 15 rows. Each path now and then rounds differently. tests/test_decoder.py checks a crowd's 40 rows.
_LEAST_ROWS = {torch.bfloat16: 2}    # fewer rows: computed as this many
_ROWS_MULTIPLE = {torch.float32: 4}  # computed as a multiple of this many
# More batch rows: computed in blocks of this many, where the CPU has AMX. Without AMX every number of
# rows up to 96 computes each row alike, and cutting would only read the weights twice.
_MOST_ROWS = {torch.bfloat16: 32, torch.float32: 12} if cpu_has_amx() else {}


def as_in_a_batch(matmul, x: torch.Tensor) -> torch.Tensor:
    """matmul(x), with the rows padded (copies of the first) as torch's kernels need to compute each row
    as it is beside any others, at no cost (a decoding step is bound by reading weights). Without this
    a column answered differently alone than beside the others. A batch wider than _MOST_ROWS (a crowd's:
    eight visitors make 40 rows) is computed block by block, which reads the weights once a block; a
    prompt's prefill (one batch row, its tokens) is not cut. Cutting the lm_head alone left the 40-row
    batch's rows unlike alone."""
    most = _MOST_ROWS.get(x.dtype)
    if most and x.dim() > 1 and x.shape[0] > most:
        return torch.cat([as_in_a_batch(matmul, x[a:a + most]) for a in range(0, x.shape[0], most)])
    flat = x.reshape(-1, x.shape[-1])
    rows = flat.shape[0]
    multiple = _ROWS_MULTIPLE.get(x.dtype, 1)
    padded_rows = max(_LEAST_ROWS.get(x.dtype, 1), -(-rows // multiple) * multiple)
    if padded_rows == rows:
        return matmul(x)
    padded = torch.cat([flat, flat[:1].expand(padded_rows - rows, -1)])
    return matmul(padded)[:rows].view(*x.shape[:-1], -1)


def on_one_thread(work):
    """work(threads) with torch on one thread, `threads` the number it had. torch's CPU flash attention
    computes a head a little differently on its second thread than on its first, and which thread gets a
    head depends on how many rows share the call: Base and RAG each answered a held-out question
    differently alone than beside the other columns. On one thread every head is computed alike; a
    decoding step's attention reads a few hundred keys a head, so torch's second thread bought nothing
    measurable (a second Python thread does: attend). With OpenMP the count is the calling thread's
    own: torch in other threads meanwhile (the embedder) keeps its threads."""
    threads = torch.get_num_threads()
    if threads == 1:
        return work(threads)
    torch.set_num_threads(1)
    try:
        return work(threads)
    finally:
        torch.set_num_threads(threads)


_helper: ThreadPoolExecutor | None = None  # a second thread for attention, torch on one thread there too


def attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, runs: list, stop: int,
           threads: int) -> torch.Tensor:
    """A decoding step's attention, each run of rows over its own slots (LeanBatch), on one thread, in
    two halves on two threads where torch had two or more: the runs of a crowd's batch are many small
    calls (40 rows made 23 runs, 690 calls a step), bound by their overhead, not by the cores; in two
    Python threads a step's attention took 81 ms against 112 in one. Each half runs on a thread with
    torch on one thread, so every head is computed as it is alone (checked: the same bits)."""
    def part(chunk):
        return [F.scaled_dot_product_attention(q[a:b], keys[a:b, :, first:stop], values[a:b, :, first:stop])
                for a, b, first in chunk]
    if threads < 2 or len(runs) < 2:
        return torch.cat(part(runs))
    global _helper
    if _helper is None:
        _helper = ThreadPoolExecutor(1, "attention", initializer=torch.set_num_threads, initargs=(1,))
    work = [(b - a) * (stop - first) for a, b, first in runs]  # keys read: the two halves about alike
    half, total, split = 0, sum(work), 1
    for split in range(1, len(runs)):
        half += work[split - 1]
        if 2 * half >= total:
            break
    theirs = _helper.submit(part, runs[split:])
    mine = part(runs[:split])
    return torch.cat(mine + theirs.result())


@dataclass
class Projection:
    weight: torch.Tensor              # [out, in] base weights, fused over the group
    lora_a: torch.Tensor | None       # [rank of all adapters, in]
    lora_b: torch.Tensor | None       # [out, rank of all adapters], block by adapter
    owner: torch.Tensor | None        # [rank of all adapters]: the adapter index of each rank column
    packed: tuple | None = None       # the same weights as 4-bit groups, for decoding (see four_bit)
    per_row: dict = field(default_factory=dict)

    def __call__(self, x: torch.Tensor, lora: "RowsLoRA | None") -> torch.Tensor:
        """lora: which rows have an adapter, and their scaling on their own adapter's rank columns."""
        if self.packed is not None and x.numel() <= DECODE_ROWS * x.shape[-1]:
            weights, scales_zeros = self.packed
            out = torch.ops.aten._weight_int4pack_mm_for_cpu(x.reshape(-1, x.shape[-1]), weights, GROUP, scales_zeros)
            out = out.view(*x.shape[:-1], -1)
        else:
            out = as_in_a_batch(lambda rows: rows @ self.weight.T, x)
        if lora is None or self.lora_a is None:
            return out
        # only the rows with an adapter; bmm, one product per row: a plain matmul folds the rows into one
        # and the float32 kernel it picks (and so its rounding) depends on their number, so a row's
        # answer would change with its neighbours
        x = x[lora.rows]
        a, b = self._lora_per_row(x.shape[0])
        # in place: a view of out
        out[lora.rows].add_(torch.bmm(torch.bmm(x.to(a.dtype), a).mul_(lora.mask), b).to(out.dtype))
        return out

    def _lora_per_row(self, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A and B transposed, as one matrix per row for bmm (views, made once per number of rows)."""
        if rows not in self.per_row:
            self.per_row[rows] = (self.lora_a.T.expand(rows, -1, -1), self.lora_b.T.expand(rows, -1, -1))
        return self.per_row[rows]

    def lora_mask(self, adapter_of_row: torch.Tensor, scale: torch.Tensor) -> torch.Tensor | None:
        if self.owner is None:
            return None
        return ((self.owner == adapter_of_row.view(-1, 1, 1)) * scale.view(-1, 1, 1)).to(self.lora_a.dtype)


@dataclass
class RowsLoRA:
    """The rows of a batch from its first to its last row with an adapter, and their mask, [those rows, 1,
    rank of all adapters]: each row's scaling on its own adapter's rank columns, else 0. Rows outside
    skip LoRA's products: in the four columns' batch, half the LoRA work of a step."""
    rows: slice
    mask: torch.Tensor


def q4_groups(groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q4_1's scheme on groups (..., GROUP): (q in 0..15, step, minimum), each group ≈ q * step + minimum."""
    low = groups.amin(-1, keepdim=True)
    step = (groups.amax(-1, keepdim=True) - low) / 15
    return torch.round((groups - low) / torch.where(step > 0, step, 1)).clamp(0, 15), step, low


def four_bit(weight: torch.Tensor, dtype: torch.dtype = torch.bfloat16) -> tuple | None:
    """Exact float32 weights as 4-bit groups of 32 for torch's int4 matmul, if they are such groups.

    The packaged model is a Q4_1 GGUF: every group of 32 weights is d*q + m with q in 0..15, so its
    minimum is m and its maximum m + 15d. Recovered from the float32 dequantized copy the groups are
    exact (recovered from bfloat16 weights they were not, and Fine-tuned lost 3 of 32 held-out
    answers in each phase). The matmul still rounds the scales to bfloat16, so answers differ from
    decoding with the full bfloat16 weights: 87 of 256 evaluation answers changed, and Hybrid lost 3
    and 2 of 32 questions. Hence opt-in (settings.decoding). Weights that are not 4-bit groups
    (a full-precision model) would be changed: None.
    """
    out_features, in_features = weight.shape
    if weight.dtype != torch.float32 or dtype != torch.bfloat16 or in_features % GROUP or out_features % 16:
        return None
    groups = weight.view(out_features, in_features // GROUP, GROUP)
    q, step, low = q4_groups(groups)
    if not torch.allclose(q * step + low, groups, rtol=1e-5, atol=1e-7):
        return None
    try:
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.view(out_features, in_features).int(), 1)
    except (RuntimeError, AttributeError):
        return None
    # torch's int4 matmul computes (q - 8) * scale + zero
    scales_zeros = torch.stack([step.squeeze(-1).T, (low + 8 * step).squeeze(-1).T], dim=-1)
    return packed, scales_zeros.to(dtype).contiguous()


def module_of(layer, part: str, name: str):
    return getattr(getattr(layer, part), name)


def supported(model) -> bool:
    config = model.config
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default")
    if config.model_type != "llama" or getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return False
    if rope != "default":
        return False
    projections = {name for _, names in GROUPS.values() for name in names}
    for name, module in model.named_modules():  # LoRA anywhere else (embeddings, lm_head) would be ignored
        if hasattr(module, "lora_A") and name.rsplit(".", 1)[-1] not in projections:
            return False
    for layer in model.model.layers:
        for part, names in GROUPS.values():
            for name in names:
                module = module_of(layer, part, name)
                biased = getattr(module, "lora_bias", {}) and any(module.lora_bias.values())
                if getattr(module, "lora_variant", None) or biased:
                    return False
    return True


def four_bit_group(exact, number: int, part: str, names: tuple[str, ...], dtype) -> tuple | None:
    if exact is None:
        return None
    keys = [f"model.layers.{number}.{part}.{name}.weight" for name in names]
    if not all(k in exact.keys() for k in keys):
        return None
    return four_bit(torch.cat([exact.get_tensor(k) for k in keys]), dtype)


def fold_lora(modules, outs: list[int], adapters: list[str], scales: dict):
    """Every adapter's LoRA on a group of projections as (A, B, owner): A stacks all A matrices, B is
    block-diagonal per projection, owner names each rank column's adapter (1-based). (None, None, None)
    without adapters; False where an adapter's scaling differs between modules."""
    a_blocks, b_columns, owner = [], [], []
    for index, adapter in enumerate(adapters):
        for slot, module in enumerate(modules):
            if adapter not in getattr(module, "lora_A", {}):
                continue
            a, b = module.lora_A[adapter].weight, module.lora_B[adapter].weight
            if scales.setdefault(adapter, module.scaling[adapter]) != module.scaling[adapter]:
                return False
            column = torch.zeros(sum(outs), a.shape[0], dtype=a.dtype)
            start = sum(outs[:slot])
            column[start:start + outs[slot]] = b.to(a.dtype)
            a_blocks.append(a)
            b_columns.append(column)
            owner += [index + 1] * a.shape[0]
    if not a_blocks:
        return None, None, None
    return torch.cat(a_blocks), torch.cat(b_columns, dim=1), torch.tensor(owner)
