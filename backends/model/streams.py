"""What a row of a batch has said so far: its text, where it stops, and its timings.

A small model runs on into made-up text and loops, so a row ends at a stop string (STOPS) or where it
starts repeating a sentence (repeat_at), not only at its end-of-text token.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

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


def cut_at(text: str) -> int:
    """Where an answer ends: at its first stop string, else where it starts repeating a sentence (-1: not yet)."""
    cut = min((text.find(s) for s in STOPS if s in text), default=-1)
    return cut if cut >= 0 else repeat_at(text)


@dataclass
class Generation:
    text: str = ""
    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_ms: float = 0.0
    generation_ms: float = 0.0
    cut_at_limit: bool = False  # it reached max_new_tokens before it ended
    error: str = ""             # why this row has no answer (a model server that failed it), in one sentence


class RowStreams:
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
            cut = cut_at(text)
            if not self.force and (token == self.tokenizer.eos_token_id or cut >= 0):
                self.done[row] = True
                text = text[:cut] if cut >= 0 else text
            out.text = text.replace(self.tokenizer.eos_token, "").strip()
            if self.on_text:
                self.on_text(row, out.text)
