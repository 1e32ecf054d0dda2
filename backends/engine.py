"""One copy of the base model, adapters attached by name, and one batched generate for all columns.

Every row of a batch names its own adapter (PEFT's `adapter_names`), so one generate serves Base,
RAG, Fine-tuned and Hybrid together, and no request ever switches a global adapter: two users of one
server cannot flip each other's adapter. A lock serialises whole generates, because PEFT passes
`adapter_names` through forward hooks on shared modules; two cores gain nothing from overlapping
generates anyway.
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
    """A transformers streamer that keeps each row's text, stop and timing apart."""

    def __init__(self, tokenizer, rows: int, on_text, started: float):
        self.tokenizer, self.on_text, self.started = tokenizer, on_text, started
        self.ids = [[] for _ in range(rows)]
        self.out = [Generation() for _ in range(rows)]
        self.done = [False] * rows
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate's first put is the prompt itself
            self._prompt_seen = True
            return
        now_ms = (time.perf_counter() - self.started) * 1000
        for row, token in enumerate(value.reshape(-1).tolist()):
            if self.done[row]:
                continue
            out = self.out[row]
            if not self.ids[row]:
                out.ttft_ms = now_ms
            self.ids[row].append(token)
            out.new_tokens = len(self.ids[row])
            out.generation_ms = now_ms
            text = self.tokenizer.decode(self.ids[row], skip_special_tokens=False)
            cut = min((text.find(s) for s in STOPS if s in text), default=-1)
            if token == self.tokenizer.eos_token_id or cut >= 0:
                self.done[row] = True
                text = text[:cut] if cut >= 0 else text
            out.text = text.replace(self.tokenizer.eos_token, "").strip()
            if self.on_text:
                self.on_text(row, out.text)

    def end(self) -> None:
        pass


class _StopFinishedRows:
    def __init__(self, streams: _RowStreams):
        self.streams = streams

    def __call__(self, input_ids, scores, **kwargs):
        import torch
        return torch.tensor(self.streams.done, dtype=torch.bool, device=input_ids.device)


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
                 on_text: Callable[[int, str], None] | None = None) -> list[Generation]:
        """Greedy, batched, streamed: on_text(row, text so far) is called from this thread."""
        import torch
        unknown = [p.adapter for p in prompts if p.adapter and p.adapter not in self.adapters]
        if unknown:
            raise ValueError(f"Adapter {unknown[0]!r} is not attached; attached: {sorted(self.adapters) or 'none'}")
        texts = [self.prompt_text(p) for p in prompts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs = {}
        if self.adapters:
            kwargs["adapter_names"] = [p.adapter or BASE for p in prompts]
        with self._lock:
            started = time.perf_counter()
            streams = _RowStreams(self.tokenizer, len(prompts), on_text, started)
            with torch.inference_mode():
                self.model.generate(
                    **batch, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                    top_k=None, pad_token_id=self.tokenizer.pad_token_id, streamer=streams,
                    stopping_criteria=[_StopFinishedRows(streams)], **kwargs)
        for out, mask in zip(streams.out, batch["attention_mask"]):
            out.prompt_tokens = int(mask.sum())
        return streams.out
