"""One copy of the base model, adapters attached by name, and one batched generation for all columns.

Every row of a batch names its own adapter (PEFT's `adapter_names`, passed to each forward exactly as
`generate` passes it), so one batch serves Base, RAG, Fine-tuned and Hybrid together, and no request
ever switches a global adapter: two users of one server cannot flip each other's adapter. Visitors
share one batch (continuous batching): a question asked while others are being answered joins their
batch at its next decoding step, and each of its rows leaves as soon as it is done, so a visitor
waits for a step, not for every earlier visitor's whole answer. The thread of one waiting request
decodes for all, and hands the batch on when its own answer is done; a lock keeps attaching an
adapter out of a step.

The decoding loop is our own rather than `generate`, for one reason measured here: `generate` keeps
finished rows in the batch, so three short answers waited out a long one and four columns together
took longer than the same answers one after another.

Two rules of that loop shape what the grounded columns say (README: "How RAG reads"): a row may have a
twin, its prompt without the passages, decoded in the same batch for context-aware decoding
(contrast_scores); and an answer ends where it starts repeating a sentence (repeat_at).
"""
from __future__ import annotations

import ctypes
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..settings import Settings
from .adapters import HOW_TO_GET_ONE, AdapterInfo, AdapterProblem, check_adapter
from .weights import ModelSource, Progress, brief, full_precision_file, load_generator, quiet

BASE = "__base__"  # PEFT's name for "no adapter" in adapter_names
STOPS = ("<|im_end|>", "<|im_start|>", "\n#", "\n\n\n", "\nQuestion:")  # a small model runs on into made-up text
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def repeat_at(text: str) -> int:
    """Where the answer starts giving a sentence it already gave (-1: it does not). A greedy small
    model loops ("Refunds are refunded to you within 30 days. Refunds are refunded to you within 30
    days. ..."); ending it at the repeat changes no answer that does not loop. Only sentences already
    ended count, so a sentence still being written is never cut."""
    seen, start = set(), 0
    for end in _SENTENCE_END.finditer(text):
        said = " ".join(re.findall(r"\w+", text[start:end.start()].lower()))
        if said in seen:
            return start
        if said:
            seen.add(said)
        start = end.end()
    return -1


PLAUSIBLE = 0.1  # contrast picks only among tokens at least this likely, relative to the best, given the passages


@dataclass(frozen=True)
class Prompt:
    messages: list[dict]
    adapter: str | None = None
    twin: list[dict] | None = None   # the same prompt without its passages, for context-aware decoding
    contrast: float | str = 0.0      # alpha of (1+alpha)·logit(passages) − alpha·logit(twin), or "adaptive"


def contrast_scores(scores, twin_scores, alpha: float | str):
    """Context-aware decoding (Shi et al. 2023): (1 + a)·s − a·s_twin, where s are the row's scores with
    its passages and s_twin its twin's without them, pushing the answer toward what the passages add
    over what the model believes anyway; only tokens at least PLAUSIBLE times as likely as the best
    under the passages may be chosen (the plausibility rule of contrastive decoding), so a large a never
    picks a token the passages make unlikely. alpha "adaptive" sets a per step to the Jensen-Shannon
    divergence of the two distributions (AdaCAD, 2024): no push where passages and memory agree."""
    import math

    import torch
    logp, twin_logp = scores.log_softmax(-1), twin_scores.log_softmax(-1)
    if alpha == "adaptive":
        p, q = logp.exp(), twin_logp.exp()
        m = ((p + q) / 2).clamp_min(1e-30).log()
        a = 0.5 * ((p * (logp - m)).sum(-1, keepdim=True) + (q * (twin_logp - m)).sum(-1, keepdim=True))
    else:
        a = float(alpha)
    combined = (1 + a) * logp - a * twin_logp
    floor = logp.max(-1, keepdim=True).values + math.log(PLAUSIBLE)
    return torch.where(logp >= floor, combined, torch.full_like(combined, -math.inf))


@dataclass
class Generation:
    text: str = ""
    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_ms: float = 0.0
    generation_ms: float = 0.0
    cut_at_limit: bool = False  # it reached max_new_tokens before it ended


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
            if cut < 0:
                cut = repeat_at(text)
            if not self.force and (token == self.tokenizer.eos_token_id or cut >= 0):
                self.done[row] = True
                text = text[:cut] if cut >= 0 else text
            out.text = text.replace(self.tokenizer.eos_token, "").strip()
            if self.on_text:
                self.on_text(row, out.text)


class _Request:
    """One generate() call's rows in the shared batch: its prompts (and twins), its streams, and when
    it is done. Its rows leave the batch as each finishes; it is done when all have."""

    def __init__(self, rows, adapters, twins: dict[int, int], contrasts: list, max_new_tokens: int,
                 streams: "_RowStreams"):
        self.rows, self.adapters, self.twins, self.contrasts = rows, adapters, twins, contrasts
        self.owner = {twin: row for row, twin in twins.items()}
        self.max_new_tokens, self.streams = max_new_tokens, streams
        self.done, self.error = threading.Event(), None
        self.gone = [False] * len(rows)
        self.reported = False

    def answer_of(self, row: int) -> int:
        return self.owner.get(row, row)

    def put(self, rows: list[int], tokens: list[int]) -> None:
        if self.error is None:
            try:
                self.streams.put(rows, tokens)
            except Exception as err:  # noqa: BLE001  (its caller's callback failed: only it is stopped)
                self.fail(err)

    def wants(self, row: int) -> bool:
        """Whether the row decodes on: its answer has not stopped nor reached its length, nor failed."""
        answer = self.answer_of(row)
        more = (self.error is None and not self.streams.done[answer]
                and len(self.streams.ids[answer]) < self.max_new_tokens)
        self.gone[row] = not more
        return more

    def finish_if_done(self) -> bool:
        """Once all its rows are gone: marks it done and says so (True) once, so its caller is woken."""
        if all(self.gone) and not self.reported:
            self.reported = True
            self.done.set()
            return True
        return False

    def fail(self, err: BaseException) -> None:
        self.error = err
        self.gone = [True] * len(self.rows)
        self.done.set()


def _step(logits, live: list[tuple[_Request, int]]):
    """One greedy step over the shared batch: each request's rows with a twin pick their token from the
    contrast of the two (contrast_scores), the twin is fed the same token, and each answer row's token
    goes to its request's stream. Gives the tokens, in the batch's order."""
    scores = logits.float()  # exact (bf16 to float loses nothing), and ~3x faster than bf16's argmax
    at = {(id(request), row): i for i, (request, row) in enumerate(live)}
    pairs = [(at[(id(r), row)], at[(id(r), twin)], r.contrasts[row]) for r, row in live
             for twin in [r.twins.get(row)] if twin is not None and (id(r), twin) in at]
    for row, twin, alpha in pairs:
        scores[row] = contrast_scores(scores[row], scores[twin], alpha)
    tokens = scores.argmax(-1)
    for row, twin, _ in pairs:
        tokens[twin] = tokens[row]
    chosen = tokens.tolist()
    by_request: dict[int, tuple[_Request, list[int], list[int]]] = {}
    for i, (request, row) in enumerate(live):
        if row < len(request.streams.out):  # an answer's row, not a twin
            entry = by_request.setdefault(id(request), (request, [], []))
            entry[1].append(row)
            entry[2].append(chosen[i])
    for request, rows, picked in by_request.values():
        request.put(rows, picked)
    return tokens


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
    _waiting: list = field(default_factory=list, repr=False)      # requests to join the batch at its next step
    _wake: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _leader: object = field(default=None, repr=False)   # the request whose thread decodes the batch now
    _batch: object = field(default=None, repr=False)    # the shared batch, its rows' (request, row), its logits
    _live: list = field(default_factory=list, repr=False)
    _logits: object = field(default=None, repr=False)
    widest_batch: int = 0   # the most rows decoded together so far (the bench reports it)

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
        engine.lean  # fuse the weights now, not on the first question
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
        encode = lambda messages: self.tokenizer(self.prompt_text(Prompt(messages)), add_special_tokens=False)["input_ids"]  # noqa: E731
        rows = [encode(p.messages) for p in prompts]
        adapters = [p.adapter for p in prompts]
        twins = {}  # a row's twin (its prompt without passages) decodes the same tokens beside it, in the same batch
        for i, p in enumerate(prompts):
            if p.twin is not None and p.contrast:  # as Settings.contrast_alpha gives it: 0.0 is off
                twins[i] = len(rows)
                rows.append(encode(p.twin))
                adapters.append(p.adapter)
        streams = _RowStreams(self.tokenizer, len(prompts), on_text, time.perf_counter(), force_tokens)
        with self._lock:
            lean = self.lean
        request = _Request(rows, adapters, twins, [p.contrast for p in prompts], max_new_tokens, streams)
        if lean:
            with self._wake:  # it joins the batch at its next step, beside any other visitor's rows
                self._waiting.append(request)
                if self._leader is None:
                    self._leader = request
            while True:
                with self._wake:
                    if request.done.is_set():
                        break
                    if self._leader is not request:
                        self._wake.wait()
                        continue
                self._serve(request)
        else:  # PEFT's own forward: one generation at a time
            with self._lock, torch.inference_mode():
                self._decode(_PeftBatch(self, rows, adapters), request)
        if request.error is not None:
            raise request.error
        for i, (out, row) in enumerate(zip(streams.out, rows)):
            out.prompt_tokens = len(row)
            out.cut_at_limit = not force_tokens and not streams.done[i]
        _give_back_freed_memory()
        return streams.out

    def _serve(self, me: "_Request") -> None:
        """Decodes the one batch every visitor shares (continuous batching), in the thread of the
        request that leads it: a question that comes meanwhile joins the batch at the next step, and a
        finished row leaves it at once. When the leader's own answer is done it hands the batch to
        another request's thread and returns, so nobody waits for a stranger's answer. (Decoding in
        the caller's thread, not a thread of its own, keeps a lone question as fast as before: torch's
        threads run a fifth slower for a second thread that calls them.) Each row is computed as it
        would be alone (decoder.py), so an answer is the same in a crowd as alone."""
        import torch
        while True:
            with self._wake:
                if me.done.is_set() or not (self._live or self._waiting):
                    successor = self._live[0][0] if self._live else self._waiting[0] if self._waiting else None
                    self._leader = successor
                    self._wake.notify_all()
                    return
                if self._batch is None or self._batch.lean is self._lean:
                    joining, self._waiting = self._waiting, []
                else:
                    joining = []  # an adapter was attached meanwhile: the new ones wait for a fresh batch
            finished = []
            try:
                with self._lock, torch.inference_mode():
                    if self._batch is not None:
                        self._reserve(joining)
                    for k, request in enumerate(joining):
                        try:
                            if self._batch is None:
                                self._batch = self.lean.start(request.rows, request.adapters, request.max_new_tokens)
                                fresh = self._batch.logits
                                self._reserve(joining[k + 1:])
                            else:
                                fresh = self._batch.join(request.rows, request.adapters, request.max_new_tokens)
                        except Exception as err:  # noqa: BLE001  (that request's own fault: said to it alone)
                            request.fail(err)
                            finished.append(request)
                            continue
                        self._live += [(request, row) for row in range(len(request.rows))]
                        self._logits = fresh if self._logits is None else torch.cat([self._logits, fresh])
                    if self._live:
                        self._step_all(finished)
                    else:
                        self._batch = self._logits = None
            except Exception as err:  # noqa: BLE001  (the batch itself failed: every request in it is told)
                for request, _ in self._live:
                    request.fail(err)
                    finished.append(request)
                self._batch, self._live, self._logits = None, [], None
            if finished:
                with self._wake:
                    self._wake.notify_all()

    def _reserve(self, joining: list) -> None:
        """Room in the batch's cache for every row of `joining`, made at once: the cache copied once."""
        self._batch.reserve([row for r in joining for row in r.rows], max((r.max_new_tokens for r in joining), default=0))

    def _step_all(self, finished: list) -> None:
        """One decoding step of the shared batch; the requests it finished go into `finished`."""
        live = self._live
        self.widest_batch = max(self.widest_batch, len(live))
        tokens = _step(self._logits, live)
        keep = [i for i, (request, row) in enumerate(live) if request.wants(row)]
        for request in {id(r): r for r, _ in live}.values():
            if request.finish_if_done():
                finished.append(request)
        if not keep:
            self._batch, self._live, self._logits = None, [], None
            return
        if len(keep) < len(live):
            self._batch.keep(keep)
            tokens, self._live = tokens[keep], [live[i] for i in keep]
        self._logits = self._batch.next(tokens)

    @property
    def lean(self):
        """The lean forward pass (backends.decoder) where it applies to this model, built once."""
        if self._lean is None:
            from .decoder import LeanLlama
            self._lean = LeanLlama.build(self.model, self.four_bit_source) or False
        return self._lean

    @staticmethod
    def _decode(batch, request: _Request) -> None:
        """Greedy decoding of one request's batch alone (PEFT's forward cannot take rows mid-way): the
        same steps as the shared batch's (_step), and a finished row leaves the batch at once."""
        live, logits = [(request, row) for row in range(len(request.rows))], batch.logits
        while True:
            tokens = _step(logits, live)
            keep = [i for i, (r, row) in enumerate(live) if r.wants(row)]
            if not keep:
                return
            if len(keep) < len(live):
                batch.keep(keep)
                tokens, live = tokens[keep], [live[i] for i in keep]
            logits = batch.next(tokens)


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
