"""Continuous batching: every visitor's rows decoded in one shared batch, a step at a time.

A question asked while others are being answered joins their batch at its next decoding step, and
each of its rows leaves as soon as it is done, so a visitor waits for a step, not for every earlier
visitor's whole answer. A row may have a twin, its prompt without the passages, decoded beside it for
context-aware decoding (contrast_scores). Each row is computed as it would be alone (decoder.py).
"""
from __future__ import annotations

import threading

from .streams import RowStreams

PLAUSIBLE = 0.1  # contrast picks only among tokens at least this likely, relative to the best, given the passages


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


class Request:
    """One generate() call's rows in the shared batch: its prompts (and twins), its streams, and when
    it is done. Its rows leave the batch as each finishes; it is done when all have."""

    def __init__(self, rows, adapters, twins: dict[int, int], contrasts: list, max_new_tokens: int,
                 streams: RowStreams):
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


def step(logits, live: list[tuple[Request, int]]):
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
    by_request: dict[int, tuple[Request, list[int], list[int]]] = {}
    for i, (request, row) in enumerate(live):
        if row < len(request.streams.out):  # an answer's row, not a twin
            entry = by_request.setdefault(id(request), (request, [], []))
            entry[1].append(row)
            entry[2].append(chosen[i])
    for request, rows, picked in by_request.values():
        request.put(rows, picked)
    return tokens


class Scheduler:
    """The one batch every visitor shares (continuous batching): a request joins it at its next step,
    and each of its rows leaves as soon as it is done. The thread of one waiting request decodes for
    all, and hands the batch on when its own answer is done."""

    def __init__(self):
        self._waiting: list[Request] = []   # requests to join the batch at its next step
        self._wake = threading.Condition()
        self._leader: Request | None = None  # the request whose thread decodes the batch now
        self._batch = None                   # the shared batch, its rows' (request, row), its logits
        self._live: list[tuple[Request, int]] = []
        self._logits = None
        self.widest_batch = 0   # the most rows decoded together so far (the bench reports it)

    def run(self, request: Request, engine) -> None:
        """Returns once the request is done, having decoded the shared batch whenever it leads it."""
        with self._wake:  # it joins the batch at its next step, beside any other visitor's rows
            self._waiting.append(request)
            if self._leader is None:
                self._leader = request
        while True:
            with self._wake:
                if request.done.is_set():
                    return
                if self._leader is not request:
                    self._wake.wait()
                    continue
            self._serve(request, engine)

    def _serve(self, me: Request, engine) -> None:
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
                if self._batch is None or self._batch.lean is engine.lean_if_built:
                    joining, self._waiting = self._waiting, []
                else:
                    joining = []  # an adapter was attached meanwhile: the new ones wait for a fresh batch
            finished = []
            try:
                with engine.lock, torch.inference_mode():
                    if self._batch is not None:
                        self._reserve(joining)
                    for k, request in enumerate(joining):
                        try:
                            if self._batch is None:
                                self._batch = engine.lean.start(request.rows, request.adapters, request.max_new_tokens)
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
        longest = max((r.max_new_tokens for r in joining), default=0)
        self._batch.reserve([row for r in joining for row in r.rows], longest)

    def _step_all(self, finished: list) -> None:
        """One decoding step of the shared batch; the requests it finished go into `finished`."""
        live = self._live
        self.widest_batch = max(self.widest_batch, len(live))
        tokens = step(self._logits, live)
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

def decode_alone(batch, request: Request) -> None:
    """Greedy decoding of one request's batch alone (PEFT's forward cannot take rows mid-way): the
    same steps as the shared batch's (step), and a finished row leaves the batch at once."""
    live, logits = [(request, row) for row in range(len(request.rows))], batch.logits
    while True:
        tokens = step(logits, live)
        keep = [i for i, (r, row) in enumerate(live) if r.wants(row)]
        if not keep:
            return
        if len(keep) < len(live):
            batch.keep(keep)
            tokens, live = tokens[keep], [live[i] for i in keep]
        logits = batch.next(tokens)
