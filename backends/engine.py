"""One copy of the base model, adapters attached by name, and one batched generation for all columns.

Every row of a batch names its own adapter (PEFT's `adapter_names`, passed to each forward exactly as
`generate` passes it), so one batch serves Base, RAG, Fine-tuned and Hybrid together, and no request
ever switches a global adapter: two users of one server cannot flip each other's adapter. A lock
serialises whole generations, because PEFT passes `adapter_names` through forward hooks on shared
modules; two cores gain nothing from overlapping them anyway.

The decoding loop is our own rather than `generate`, for one reason measured here: `generate` keeps
finished rows in the batch, so three short answers waited out a long one and four columns together
took longer than the same answers one after another.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .adapters import AdapterInfo, AdapterProblem, check_adapter
from .models import ModelSource, load_generator
from .settings import Settings

BASE = "__base__"  # PEFT's name for "no adapter" in adapter_names
STOPS = ("<|im_end|>", "<|im_start|>", "\n#", "\n\n\n", "\nQuestion:")  # a small model runs on into made-up text


@dataclass(frozen=True)
class Prompt:
    messages: list[dict]
    adapter: str | None = None


@dataclass
class Generation:
    text: str = ""
    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_ms: float = 0.0
    generation_ms: float = 0.0


class _RowStreams:
    """Each row's text, stop and timing, fed one token per row per step."""

    def __init__(self, tokenizer, rows: int, on_text, started: float, force: bool = False):
        self.tokenizer, self.on_text, self.started, self.force = tokenizer, on_text, started, force
        self.ids = [[] for _ in range(rows)]
        self.out = [Generation() for _ in range(rows)]
        self.done = [False] * rows

    def put(self, rows: list[int], tokens: list[int]) -> None:
        now_ms = (time.perf_counter() - self.started) * 1000
        for row, token in zip(rows, tokens):
            out = self.out[row]
            if not self.ids[row]:
                out.ttft_ms = now_ms
            self.ids[row].append(token)
            out.new_tokens = len(self.ids[row])
            out.generation_ms = now_ms
            text = self.tokenizer.decode(self.ids[row], skip_special_tokens=False)
            cut = min((text.find(s) for s in STOPS if s in text), default=-1)
            if not self.force and (token == self.tokenizer.eos_token_id or cut >= 0):
                self.done[row] = True
                text = text[:cut] if cut >= 0 else text
            out.text = text.replace(self.tokenizer.eos_token, "").strip()
            if self.on_text:
                self.on_text(row, out.text)


@dataclass
class Engine:
    model: object
    tokenizer: object
    source: ModelSource
    adapters: dict[str, AdapterInfo] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)   # adapter name -> why it is unavailable
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, settings: Settings, adapter_names: tuple[str, ...] | None = None) -> "Engine":
        import torch
        if settings.threads:
            torch.set_num_threads(settings.threads)
        model, tokenizer, source = load_generator(settings)
        engine = cls(model, tokenizer, source)
        names = adapter_names if adapter_names is not None else (settings.adapter, settings.hybrid_adapter)
        for name in dict.fromkeys(n for n in names if n):
            engine.attach(name, Path(settings.adapters_dir) / name)
        return engine

    @property
    def label(self) -> str:
        """The model as a user should know it: where it came from and the dtype it computes in."""
        return f"{self.source.label}, {str(self.model.dtype).removeprefix('torch.')}"

    def attach(self, name: str, path: Path) -> None:
        """Attaches an adapter by name, or records why it cannot be used."""
        try:
            info = check_adapter(path, self.source.fingerprint)
        except AdapterProblem as problem:
            self.problems[name] = str(problem)
            return
        from peft import PeftModel
        with self._lock:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(path), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            self.model.eval()
        self.adapters[name] = info
        self.problems.pop(name, None)

    def prompt_text(self, prompt: Prompt) -> str:
        return self.tokenizer.apply_chat_template(prompt.messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: list[Prompt], max_new_tokens: int,
                 on_text: Callable[[int, str], None] | None = None, force_tokens: bool = False) -> list[Generation]:
        """Greedy, batched, streamed: on_text(row, text so far) is called from this thread.
        force_tokens makes every row run to exactly max_new_tokens (for benchmarks)."""
        import torch
        unknown = [p.adapter for p in prompts if p.adapter and p.adapter not in self.adapters]
        if unknown:
            raise ValueError(f"Adapter {unknown[0]!r} is not attached; attached: {sorted(self.adapters) or 'none'}")
        texts = [self.prompt_text(p) for p in prompts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        adapter_names = [p.adapter or BASE for p in prompts] if self.adapters else None
        with self._lock, torch.inference_mode():
            streams = _RowStreams(self.tokenizer, len(prompts), on_text, time.perf_counter(), force_tokens)
            self._decode(batch["input_ids"], batch["attention_mask"], adapter_names, max_new_tokens, streams)
        for out, mask in zip(streams.out, batch["attention_mask"]):
            out.prompt_tokens = int(mask.sum())
        return streams.out

    def _decode(self, ids, mask, adapter_names, max_new_tokens: int, streams: _RowStreams) -> None:
        """Greedy decoding over a left-padded batch. A finished row leaves the batch (and the KV cache) at
        once, so short answers never wait out a long one and the long one finishes at batch-1 speed."""
        import torch
        alive = list(range(len(ids)))  # the original row of each row still in the batch
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"adapter_names": adapter_names} if adapter_names else {}
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **extra)
        cache = out.past_key_values
        for step in range(max_new_tokens):
            tokens = out.logits[:, -1].argmax(-1)
            streams.put(alive, tokens.tolist())
            keep = [i for i, row in enumerate(alive) if not streams.done[row]]
            if not keep or step == max_new_tokens - 1:
                return
            if len(keep) < len(alive):
                index = torch.tensor(keep)
                cache.batch_select_indices(index)
                mask, positions, tokens = mask[index], positions[index], tokens[index]
                alive = [alive[i] for i in keep]
                if extra:
                    extra["adapter_names"] = [extra["adapter_names"][i] for i in keep]
            mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=-1)
            positions = positions[:, -1:] + 1
            out = self.model(input_ids=tokens[:, None], attention_mask=mask, position_ids=positions,
                             past_key_values=cache, use_cache=True, **extra)
