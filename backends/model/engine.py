"""One copy of the base model, adapters attached by name, and one batched generation for all columns.

Every row of a batch names its own adapter (PEFT's `adapter_names`, passed to each forward exactly as
`generate` passes it), so one batch serves Base, RAG, Fine-tuned and Hybrid together, and no request
ever switches a global adapter: two users of one server cannot flip each other's adapter. Visitors
share one batch (continuous batching): a question asked while others are being answered joins their
batch at its next decoding step, and each of its rows leaves as soon as it is done, so a visitor
waits for a step, not for every earlier visitor's whole answer (scheduler.py). A lock keeps attaching
an adapter out of a step.

The decoding loop is our own rather than `generate`, for one reason measured here: `generate` keeps
finished rows in the batch, so three short answers waited out a long one and four columns together
took longer than the same answers one after another.

Two rules of that loop shape what the grounded columns say (docs/rag-reading.md): a row may have a
twin, its prompt without the passages, decoded in the same batch for context-aware decoding
(scheduler.contrast_scores); and an answer ends where it starts repeating a sentence
(streams.repeat_at).
"""
from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..settings import Settings
from .adapters import HOW_TO_GET_ONE, AdapterInfo, AdapterProblem, check_adapter
from .scheduler import Request, Scheduler, decode_alone
from .streams import Generation, RowStreams
from .weights import ModelSource, Progress, brief, full_precision_file, load_generator, quiet

BASE = "__base__"  # PEFT's name for "no adapter" in adapter_names
__all__ = ["BASE", "Engine", "Generation", "Prompt"]


@dataclass(frozen=True)
class Prompt:
    messages: list[dict]
    adapter: str | None = None
    twin: list[dict] | None = None   # the same prompt without its passages, for context-aware decoding
    contrast: float | str = 0.0      # alpha of (1+alpha)·logit(passages) − alpha·logit(twin), or "adaptive"


@dataclass
class Engine:
    model: object
    tokenizer: object
    source: ModelSource
    adapters: dict[str, AdapterInfo] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)   # adapter name -> why it is unavailable
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    four_bit_source: Path | None = None                # exact weights to find 4-bit groups in (decoder.four_bit)
    _lean: object = field(default=None, repr=False)    # None: not built yet; False: does not apply
    scheduler: Scheduler = field(default_factory=Scheduler, repr=False)  # the batch every visitor shares

    @classmethod
    def load(cls, settings: Settings, adapter_names: tuple[str, ...] | None = None,
             progress: Progress | None = None) -> "Engine":
        import torch
        progress = progress or quiet
        if settings.threads:
            torch.set_num_threads(settings.threads)
        model, tokenizer, source = load_generator(settings, progress)
        exact = full_precision_file(settings, source) if settings.decoding == "4bit" else None
        engine = cls(model, tokenizer, source, four_bit_source=exact)
        names = adapter_names if adapter_names is not None else (settings.adapter, settings.hybrid_adapter)
        for name in dict.fromkeys(n for n in names if n):
            progress(f"Attaching the adapter {name}", None)
            engine.attach(name, Path(settings.adapters_dir) / name)
        progress("Fusing the weights for the lean decoder", None)
        _ = engine.lean  # fuse the weights now, not on the first question
        _give_back_freed_memory()  # the float32 copy read from the cache, cast to bfloat16: ~130 MB
        return engine

    @property
    def label(self) -> str:
        """The model as a user should know it: where it came from and the dtype it computes in."""
        decoding = ", 4-bit weights when decoding" if self.lean and self.lean.four_bits else ""
        return f"{self.source.label}, computed in {str(self.model.dtype).removeprefix('torch.')}{decoding}"

    def attach(self, name: str, path: Path) -> None:
        """Attaches an adapter by name, or records why it cannot be used."""
        try:
            info = check_adapter(path, self.source.fingerprint)
        except AdapterProblem as problem:
            self.problems[name] = str(problem)
            return
        from peft import PeftModel
        problem = None
        with self._lock:
            try:
                if isinstance(self.model, PeftModel) and name in self.model.peft_config:
                    self.model.delete_adapter(name)  # trained again under the same name: the new weights
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(str(path), adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            except Exception as err:  # a config PEFT cannot use: only the columns on this adapter say so
                problem = f"Adapter {name} could not be attached ({type(err).__name__}: {brief(err)}). {HOW_TO_GET_ONE}"
            else:
                self.model.eval()
        if problem:
            self.problems[name] = problem
            self.detach(name)  # half attached (weights of another shape): nothing of it kept
            return
        self.adapters[name] = info
        self.problems.pop(name, None)
        self._lean = None  # rebuilt with the new adapter's weights on next use

    def detach(self, name: str) -> None:
        """Takes an adapter off the model (one made in the app and deleted there); its columns then say so."""
        from peft import PeftModel
        with self._lock:
            if isinstance(self.model, PeftModel) and name in self.model.peft_config and len(self.model.peft_config) > 1:
                self.model.delete_adapter(name)
            self.adapters.pop(name, None)
            self._lean = None

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

        def encode(messages):
            return self.tokenizer(self.prompt_text(Prompt(messages)), add_special_tokens=False)["input_ids"]
        rows = [encode(p.messages) for p in prompts]
        adapters = [p.adapter for p in prompts]
        # a row's twin (its prompt without passages) decodes the same tokens beside it, in the same batch
        twins = {}
        for i, p in enumerate(prompts):
            if p.twin is not None and p.contrast:  # as Settings.contrast_alpha gives it: 0.0 is off
                twins[i] = len(rows)
                rows.append(encode(p.twin))
                adapters.append(p.adapter)
        streams = RowStreams(self.tokenizer, len(prompts), on_text, time.perf_counter(), force_tokens)
        with self._lock:
            lean = self.lean
        request = Request(rows, adapters, twins, [p.contrast for p in prompts], max_new_tokens, streams)
        if lean:
            self.scheduler.run(request, self)
        else:  # PEFT's own forward: one generation at a time
            with self._lock, torch.inference_mode():
                decode_alone(_PeftBatch(self, rows, adapters), request)
        if request.error is not None:
            raise request.error
        for i, (out, row) in enumerate(zip(streams.out, rows)):
            out.prompt_tokens = len(row)
            out.cut_at_limit = not force_tokens and not streams.done[i]
        _give_back_freed_memory()
        return streams.out

    @property
    def widest_batch(self) -> int:
        """The most rows decoded together so far (the bench reports it)."""
        return self.scheduler.widest_batch

    @property
    def lock(self) -> threading.Lock:
        """Held while the model computes, and while an adapter is attached: never both at once."""
        return self._lock

    @property
    def lean_if_built(self):
        """The lean forward pass as it is now, without building it (None: to be rebuilt)."""
        return self._lean

    @property
    def lean(self):
        """The lean forward pass (backends.decoder) where it applies to this model, built once."""
        if self._lean is None:
            from .decoder import LeanLlama
            self._lean = LeanLlama.build(self.model, self.four_bit_source) or False
        return self._lean

def _give_back_freed_memory() -> None:
    """glibc keeps freed blocks for reuse and never hands most of them back, so a served app's memory
    grows with every answer's KV cache and activations; malloc_trim returns them to the system
    (measured here: 130 MB after loading, 30-50 MB after an answer). Elsewhere than glibc, nothing."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _PeftBatch:
    """The same interface as decoder.LeanBatch on the model's own forward (PEFT's per-row
    `adapter_names`, a dynamic cache, a left-padded batch), for models the lean pass does not handle."""

    def __init__(self, engine: Engine, rows: list[list[int]], adapters: list[str | None]):
        import torch
        self.torch, self.model = torch, engine.model
        width = max(len(r) for r in rows)
        pad = engine.tokenizer.pad_token_id or 0
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        self.mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        self.positions = (self.mask.cumsum(-1) - 1).clamp(min=0)
        self.extra = {"adapter_names": [a or BASE for a in adapters]} if engine.adapters else {}
        out = self.model(input_ids=ids, attention_mask=self.mask, position_ids=self.positions, use_cache=True,
                         logits_to_keep=1, **self.extra)
        self.cache, self.logits = out.past_key_values, out.logits[:, -1]

    def keep(self, rows: list[int]) -> None:
        index = self.torch.tensor(rows)
        self.cache.batch_select_indices(index)
        self.mask, self.positions = self.mask[index], self.positions[index]
        if self.extra:
            self.extra["adapter_names"] = [self.extra["adapter_names"][i] for i in rows]

    def next(self, tokens):
        self.mask = self.torch.cat([self.mask, self.mask.new_ones(len(tokens), 1)], dim=-1)
        self.positions = self.positions[:, -1:] + 1
        out = self.model(input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.positions,
                         past_key_values=self.cache, use_cache=True, **self.extra)
        return out.logits[:, -1]
