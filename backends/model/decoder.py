"""A lean forward pass for Llama-family models, every row of a batch on its own LoRA adapter (or none).

Why not the model's own forward: one decode step of transformers + PEFT at batch 4 with ~470 tokens
of context took 102 ms here. 41 ms of it were 631 small matmuls (every LoRA projection adds two per
adapter), 12 ms re-copying the whole KV cache (the dynamic cache grows by concatenation), and much of
the rest Python overhead of hooks and modules. This pass computes the same thing with fewer, larger
operations:
- q/k/v share one matmul, as do gate/up: 4 base matmuls a layer, not 7;
- the LoRA A matrices of every attached adapter form one matrix, the B matrices one block matrix, and a
  per-row mask keeps each row's own adapter: 2 LoRA matmuls per projection group, whatever the number
  of adapters. As in PEFT, LoRA runs in the adapter's dtype and its output times the scaling is added
  in the model's dtype. Summed over all adapters' ranks at once, it rounds a little differently from
  PEFT's module-by-module sums: the tests bound the difference, and compare Base rows bit for bit;
- keys and values go into a cache allocated once per generation;
- grouped-query attention needs no repeated keys: in decoding, a group's query heads become query
  positions of one key-value head;
- prompts are prefilled unpadded, one by one, and laid out left-padded in the cache;
- a row's answer does not depend on the rows beside it: every operation computes a row exactly as it
  would beside any other rows (see fused.py and LeanBatch.join), so a
  column answers the same in the four-way batch as on its own, and the evaluation's figures do not
  depend on which columns it runs;
- opt-in (settings.decoding), decoding reads a 4-bit GGUF's own weight groups (see fused.four_bit).

The fused weights replace the model's own (its modules then hold views into them), so the model keeps
one copy of its weights and `model(...)` still works, for training and for checks.
It does not handle biases, DoRA or other LoRA variants, adapters on embeddings or the output layer,
or rope scaling: `LeanLlama.build` returns None for such a model and the engine uses PEFT's forward.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open

from .fused import (
    GROUPS,
    Projection,
    RowsLoRA,
    as_in_a_batch,
    attend,
    fold_lora,
    four_bit_group,
    module_of,
    on_one_thread,
    supported,
)


class LeanLlama:
    def __init__(self, model, adapters: list[str], layers: list[dict[str, Projection]], scales: list[float]):
        self.model, self.adapters, self.layers = model, adapters, layers
        self.scales = torch.tensor([0.0, *scales])  # index 0: no adapter
        config = model.config
        self.kv_heads, self.heads = config.num_key_value_heads, config.num_attention_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.eps = config.rms_norm_eps

    @classmethod
    def build(cls, model, four_bit_source: Path | None = None) -> "LeanLlama | None":
        """Fuses the weights of a (possibly PEFT-wrapped) Llama model; None where this pass does not apply.
        four_bit_source: a safetensors file of the model's exact float32 weights; where they are 4-bit
        groups, decoding reads those (see fused.four_bit). Without it decoding reads the full weights."""
        peft_config = getattr(model, "peft_config", {}) or {}
        adapters = list(peft_config)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        if not supported(base):
            return None
        scales, layers = {}, []
        exact = safe_open(str(four_bit_source), "pt") if four_bit_source else None
        for number, layer in enumerate(base.model.layers):
            fused = {}
            for group, (part, names) in GROUPS.items():
                modules = [module_of(layer, part, n) for n in names]
                linears = [getattr(m, "base_layer", m) for m in modules]
                lora = fold_lora(modules, [lin.weight.shape[0] for lin in linears], adapters, scales)
                if lora is False:
                    return None  # per-module scaling (alpha or rank patterns): leave it to PEFT
                weight = torch.cat([lin.weight.data for lin in linears]) if len(linears) > 1 else linears[0].weight.data
                start = 0
                for lin in linears:  # the model's modules now read the fused weights: one copy in memory
                    rows = lin.weight.shape[0]
                    lin.weight.data = weight[start:start + rows]
                    start += rows
                fused[group] = Projection(weight, *lora, four_bit_group(exact, number, part, names, base.dtype))
            layers.append(fused)
        for group in GROUPS:  # one mask per group serves every layer: adapters must cover the same layers
            owners = {tuple(lay[group].owner.tolist()) if lay[group].owner is not None else () for lay in layers}
            if len(owners) > 1:
                return None
        return cls(base, adapters, layers, [scales.get(a, 0.0) for a in adapters])

    @property
    def four_bits(self) -> bool:
        return any(projection.packed is not None for layer in self.layers for projection in layer.values())

    def start(self, rows: list[list[int]], adapters: list[str | None], max_new_tokens: int) -> "LeanBatch":
        return LeanBatch(self, rows, adapters, max_new_tokens)

    # -- the pieces of a layer, as transformers' Llama computes them --
    def norm(self, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * h.to(x.dtype)

    @staticmethod
    def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def _inside_order(starts: list[int], with_adapter: list[bool]) -> list[int]:
    """Longest prompt first (the first slot soonest), so rows that attend the same slots are
    neighbours; within those, rows with an adapter last in the first run, first in the next, and so
    on, so that the rows with an adapter are neighbours too where they can be (see RowsLoRA)."""
    firsts = sorted(set(starts))

    def key(i):
        run = firsts.index(starts[i])
        return run, with_adapter[i] != (run % 2 == 1)
    return sorted(range(len(starts)), key=key)


class LeanBatch:
    """One batch being decoded: a cache, each row's first slot and adapter; rows can leave as they
    finish, and join while it decodes (continuous batching: other visitors' questions share its steps).

    The cache holds each row's prompt right-aligned at the slot the batch has reached, so every row's
    next token goes into the same slot. Inside, rows are ordered by their first slot, so rows whose
    keys start at one slot are neighbours: decoding attends each such run of rows to its own slots only,
    never reading a shorter prompt's empty slots (at batch 4 the keys and values read per step cost as
    much as the 4-bit weights), and a row reads exactly the slots it would read alone."""

    def __init__(self, lean: LeanLlama, rows: list[list[int]], adapters: list[str | None], max_new_tokens: int):
        self.lean = lean
        layers, kv, hd = len(lean.layers), lean.kv_heads, lean.head_dim
        # the cache's memory: room for more rows and slots than it holds, so rows join without copying it
        self.store = (torch.zeros(layers, 0, kv, 0, hd, dtype=lean.model.dtype),) * 2
        self.keys, self.values = self.store
        self.order: list[int] = []          # inside row -> caller's row
        self.starts: list[int] = []         # inside row -> its prompt's first slot
        self.adapter_of_row = torch.zeros(0, 1, dtype=torch.long)
        self.scale = torch.zeros(0, 1, dtype=lean.scales.dtype)
        self.filled = 0  # slots written so far: every row's next token goes into slot `filled`
        self.lora: dict[str, RowsLoRA] = {}
        self.grouped = True  # whether the rows are in _inside_order (joining rows wait for the next step)
        self.logits = self.join(rows, adapters, max_new_tokens)

    def _callers(self, inside: torch.Tensor) -> torch.Tensor:
        """Rows in the caller's order."""
        return inside[torch.tensor(self.order).argsort()]

    def _runs(self) -> list[tuple[int, int, int]]:
        """(first row, end row, first slot) of each run of rows whose prompts start at one slot."""
        runs, first = [], 0
        for i in range(1, len(self.starts) + 1):
            if i == len(self.starts) or self.starts[i] != self.starts[first]:
                runs.append((first, i, self.starts[first]))
                first = i
        return runs

    def _lora(self, rows: slice | None = None) -> dict[str, RowsLoRA]:
        """Per projection group, the LoRA of the batch's rows `rows` (all if None): its span counts from
        the first of those rows, as the forward pass over them sees them."""
        adapter_of_row, scale = self.adapter_of_row, self.scale
        if rows is not None:
            adapter_of_row, scale = adapter_of_row[rows], scale[rows]
        with_adapter = (adapter_of_row.view(-1) > 0).nonzero().view(-1).tolist()
        if not with_adapter:
            return {}
        span = slice(with_adapter[0], with_adapter[-1] + 1)
        masks = {group: projection.lora_mask(adapter_of_row[span], scale[span])
                 for group, projection in self.lean.layers[0].items()}
        return {group: RowsLoRA(span, mask) for group, mask in masks.items() if mask is not None}

    def _make_room(self, shift: int, capacity: int, rows: int, spare: int = 0) -> None:
        """Moves every row's slots `shift` to the right, makes the cache at least `capacity` slots long
        and adds `rows` rows, with room for `spare` more; copying keys and values changes none of them.
        Only a shift or a cache too small copies it (each visitor joining a crowd's batch copied the
        whole cache, 0.17 s at 40 rows; reserve() makes room for all of one step's joiners at once). A
        row's slots hold whatever was there until it writes them: a row reads only slots it has written."""
        held, store = self.keys.shape[1], self.store[0].shape
        wanted = held + max(rows, spare)
        if shift or capacity > store[3] or wanted > store[1]:
            new = [cache.new_empty(store[0], max(wanted, store[1]), store[2], max(capacity, store[3]), store[4])
                   for cache in self.store]
            for cache, old in zip(new, (self.keys, self.values)):
                cache[:, :held, :, shift:shift + self.filled] = old[:, :, :, :self.filled]
            self.store = tuple(new)
            self.starts = [s + shift for s in self.starts]
            self.filled += shift
        self.keys, self.values = (cache[:, :held + rows] for cache in self.store)

    def reserve(self, rows: list[list[int]], max_new_tokens: int) -> None:
        """Makes room for prompts `rows` to join (join() then copies nothing), all with one copy."""
        if rows:
            shift = max(0, max(len(r) for r in rows) - self.filled)
            self._make_room(shift, max(self.keys.shape[3] + shift, self.filled + shift + max_new_tokens), 0, len(rows))

    def join(self, rows: list[list[int]], adapters: list[str | None], max_new_tokens: int) -> torch.Tensor:
        """Adds rows to the batch: the caller's next rows, after those it has. Their prompts are placed to
        end at the slot the batch has reached (the cache moves right where a prompt is longer than that)
        and prefilled; from the next step they decode with the others. Gives their first logits, in the
        order given. Each prompt is prefilled on its own: prompts of one length side by side would make
        the matmuls' rows longer, and their rounding differ from that of the prompt alone (prefill is
        compute-bound: one at a time costs no more)."""
        callers = len(self.order)
        shift = max(0, max(len(r) for r in rows) - self.filled)
        self._make_room(shift, max(self.keys.shape[3] + shift, self.filled + shift + max_new_tokens), len(rows))
        index = torch.tensor([self.lean.adapters.index(a) + 1 if a else 0 for a in adapters]).view(-1, 1)
        self.adapter_of_row = torch.cat([self.adapter_of_row, index])
        self.scale = torch.cat([self.scale, self.lean.scales[index.view(-1)].view(-1, 1)])
        logits = []
        for j, ids in enumerate(rows):
            inside = len(self.starts)
            self.starts.append(self.filled - len(ids))
            self.order.append(callers + j)
            hidden = self._forward(torch.tensor([ids]), torch.arange(len(ids)).view(1, -1), slice(inside, inside + 1),
                                   slice(self.starts[inside], self.filled))
            logits.append(self._logits(hidden[:, -1]))
        self.grouped = False  # regrouped once, at the next step, however many join before it
        return torch.cat(logits)

    def _grouped_order(self, inside: list[int]) -> list[int]:
        """The inside rows `inside`, put in _inside_order unless they are in it already."""
        if self.grouped:
            return inside
        self.grouped = True
        with_adapter = (self.adapter_of_row.view(-1) > 0).tolist()
        ordered = _inside_order([self.starts[i] for i in inside], [with_adapter[i] for i in inside])
        return [inside[j] for j in ordered]

    def _reorder(self, inside: list[int]) -> None:
        """Keeps the inside rows `inside` (old positions), in that order."""
        index = torch.tensor(inside)
        self._move_rows(inside)
        self.starts = [self.starts[i] for i in inside]
        self.adapter_of_row, self.scale = self.adapter_of_row[index], self.scale[index]
        self.lora = self._lora()

    def keep(self, rows: list[int]) -> None:
        """Keeps the caller's rows `rows` (indices into the rows still alive), in that order."""
        kept = set(rows)
        inside = self._grouped_order([i for i, caller in enumerate(self.order) if caller in kept])
        self.order = [rows.index(self.order[i]) for i in inside]
        self._reorder(inside)

    def _move_rows(self, inside: list[int]) -> None:
        """Makes the cache's rows `inside` (old positions, in their new order) its first rows, in place.
        Only the rows that move are copied, and only the slots they use (from their prompt's first slot
        to the slot reached; no row ever reads a slot before its own first one): a row leaving a crowd's
        batch used to copy the whole cache, every row and slot of it, and in a crowd whose answers end at
        different steps that took a fifth of the decoding thread's time (docs/benchmarks.md)."""
        first = next((j for j, i in enumerate(inside) if i != j), len(inside))
        if first < len(inside):
            moving = inside[first:]
            lowest = min(self.starts[i] for i in moving)
            index, moved = torch.tensor(moving), slice(first, len(inside))
            for cache in (self.keys, self.values):
                cache[:, moved, :, lowest:self.filled] = cache[:, index, :, lowest:self.filled]
        self.keys, self.values = self.keys[:, :len(inside)], self.values[:, :len(inside)]

    def next(self, tokens: torch.Tensor) -> torch.Tensor:
        """The logits after each row's next token; tokens and logits in the caller's order."""
        if not self.grouped:  # rows have joined: rows that start at one slot side by side
            self.keep(list(range(len(self.order))))
        if self.filled >= self.keys.shape[3]:
            self._make_room(0, self.filled + 32, 0)
        positions = torch.tensor([self.filled - s for s in self.starts]).view(-1, 1)
        tokens = tokens[torch.tensor(self.order)]
        hidden = self._forward(tokens.view(-1, 1), positions, None, slice(self.filled, self.filled + 1))
        self.filled += 1
        return self._callers(self._logits(hidden[:, -1]))

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        model = self.lean.model
        return as_in_a_batch(model.lm_head, self.lean.norm(model.model.norm.weight, hidden))

    def _forward(self, ids, positions, prefill: slice | None, slots: slice) -> torch.Tensor:
        """Runs the rows `prefill` over their prompts, or (prefill None) every row over one new token."""
        lean, model = self.lean, self.lean.model
        rows, seq = ids.shape
        x = model.model.embed_tokens(ids)
        cos, sin = model.model.rotary_emb(x, positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        lora = self._lora(prefill) if prefill is not None else self.lora
        heads, kv, hd = lean.heads, lean.kv_heads, lean.head_dim
        runs = self._runs()
        for number, (layer, fused) in enumerate(zip(model.model.layers, lean.layers)):
            h = lean.norm(layer.input_layernorm.weight, x)
            q, k, v = fused["qkv"](h, lora.get("qkv")).split([heads * hd, kv * hd, kv * hd], dim=-1)
            q = lean.rope(q.view(rows, seq, heads, hd).transpose(1, 2), cos, sin)
            k = lean.rope(k.view(rows, seq, kv, hd).transpose(1, 2), cos, sin)
            v = v.view(rows, seq, kv, hd).transpose(1, 2)
            keys, values = self.keys[number], self.values[number]
            if prefill is not None:
                keys[prefill, :, slots] = k
                values[prefill, :, slots] = v
                attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            else:
                keys[:, :, slots] = k
                values[:, :, slots] = v
                q = q.reshape(rows, kv, heads // kv, hd)  # one token: a group's query heads become its query positions
                attended = on_one_thread(lambda threads: attend(q, keys, values, runs, slots.stop, threads))  # noqa: B023  (called at once)
                attended = attended.reshape(rows, heads, 1, hd)
            attended = attended.transpose(1, 2).reshape(rows, seq, heads * hd)
            x = x + fused["o"](attended, lora.get("o"))
            h = lean.norm(layer.post_attention_layernorm.weight, x)
            gate, up = fused["gate_up"](h, lora.get("gate_up")).chunk(2, dim=-1)
            x = x + fused["down"](F.silu(gate) * up, lora.get("down"))
        return x
