"""What an edit changed in an answer: the words that moved, and a one-line verdict on whether the
answer followed the edit, computed from the answer and the edit's own old and new text."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..documents.edits import PolicyEdit
from .grounding import Claim, claims


@dataclass(frozen=True)
class Piece:
    op: str      # "same", "removed" (in the before answer only) or "added" (in the after answer only)
    text: str


def word_diff(before: str, after: str) -> list[Piece]:
    """The two answers as one sequence of pieces: same words, words only before, words only after.
    Words are compared whole ("30" against "14", not "3" against "1"), spacing kept as written."""
    old, new = re.findall(r"\S+|\s+", before), re.findall(r"\S+|\s+", after)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("removed", "".join(old[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("added", "".join(new[j1:j2])))
    return pieces


def side(pieces: list[Piece], which: str) -> list[Piece]:
    """The before ("removed" kept) or the after ("added" kept) answer of a diff."""
    drop = "added" if which == "before" else "removed"
    return [p for p in pieces if p.op != drop]


@dataclass(frozen=True)
class Verdict:
    kind: str    # "followed", "guessed" (followed, with a figure no document holds), "stale", "both", "silent"
    #              or "unchanged" (nothing of the edit either time)
    line: str


def _changed(edit: PolicyEdit) -> tuple[list[Claim], list[Claim]]:
    """The claims the edit took out, and those it put in (those both texts hold are not the edit's)."""
    old, new = claims(edit.old), claims(edit.new)
    new_keys, old_keys = {c.key for c in new}, {c.key for c in old}
    return [c for c in old if c.key not in new_keys], [c for c in new if c.key not in old_keys]


def _number(claim: Claim) -> float:
    value = claim.key[1]
    return value[1] if isinstance(value, tuple) else value


def _saying(text: str, wanted: list[Claim]) -> list[Claim]:
    """The text's claims that say one of `wanted`: the same claim in any wording, or the bare number of
    one ("80" for "$80", "14" for "14 days"), which the word diff marks as the edit's figure too."""
    keys = {c.key for c in wanted}
    numbers = {_number(c) for c in wanted}
    return [c for c in claims(text) if c.key in keys or (c.key[0] == "figure" and c.key[1] in numbers)]


def _says(text: str, wanted: list[Claim], literal: str) -> bool:
    if wanted:
        return bool(_saying(text, wanted))
    return bool(literal.strip()) and literal.strip().lower() in text.lower()


def _phrase(found: list[Claim], literal: str) -> str:
    return ", ".join(dict.fromkeys(c.text for c in found)) if found else f"“{literal.strip()}”"


def _in_own_words(text: str, wanted: list[Claim]) -> str:
    """How the answer wrote the claims it shares with `wanted`, where that is not the edit's wording."""
    written = {c.text for c in wanted}
    own = [c.text for c in _saying(text, wanted) if c.text not in written]
    return f" (says “{'”, “'.join(dict.fromkeys(own))}”)" if own else ""


def _words_changed(edit: PolicyEdit) -> tuple[str, str]:
    """For an edit without figures, what to look for: a short find-and-replace as typed, else the words
    the edit changed."""
    if len(edit.old) <= 60 and len(edit.new) <= 60:
        return edit.old, edit.new
    pieces = word_diff(edit.old, edit.new)
    return ("".join(p.text for p in pieces if p.op == "removed").strip(),
            "".join(p.text for p in pieces if p.op == "added").strip())


def verdict(before: str, after: str, edit: PolicyEdit, uses_retrieval: bool, learned_before_edit: bool,
            retrieved_edited: bool | None = None, guesses: list[str] = ()) -> Verdict:
    """Did the after answer follow the edit? `learned_before_edit`: the column's adapter learned the
    documents before this edit; `retrieved_edited`: the edited document was among its passages;
    `guesses`: the after answer's figures that neither its passages nor the documents hold, so that
    an answer giving the new figure beside a made-up one is not called plainly right."""
    took_out, put_in = _changed(edit)
    old_words, new_words = _words_changed(edit)
    old_said, new_said = _says(after, took_out, old_words), _says(after, put_in, new_words)
    old_text, new_text = _phrase(took_out, old_words), _phrase(put_in, new_words)
    if new_said and not old_said:
        line = f"followed the edit: {old_text} → {new_text}{_in_own_words(after, put_in)}"
        if guesses:
            made_up = ", ".join(dict.fromkeys(guesses))
            return Verdict("guessed", f"{line}, but also gives {made_up}, which no document holds")
        return Verdict("followed", line)
    if old_said and new_said:
        return Verdict("both", f"gives both the old {old_text} and the new {new_text}")
    if old_said:
        if uses_retrieval:
            why = ("the edited passage was not retrieved" if retrieved_edited is False
                   else "although its passages say " + new_text)
        elif learned_before_edit:
            why = "learned before the edit"
        else:
            why = "from the base model's own guess, not the documents"
        return Verdict("stale", f"still says {old_text}: {why}")
    if _says(before, took_out, old_words):
        return Verdict("silent", f"no longer mentions {old_text}, nor says {new_text}")
    return Verdict("unchanged", f"mentioned neither {old_text} nor {new_text}, before or after the edit")
