"""Is an answer grounded? Its concrete claims (amounts, durations, percentages, times, weekdays,
distances, weights and volumes, other figures) checked against the passages it was given and the
documents as they are now.

The check reads claims, not meaning: "two weeks" and "14 days" are one claim, "$75.00" and "$75" too.
It cannot tell whether a figure found in the documents is about the same thing, nor check a claim that
has no figure in it ("you can return anything"), nor a negation ("not within 30 days").
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Callable

from ..documents.index import sentences

WORD_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100, "half": 0.5,
}
# Durations in one unit each family, so "two weeks" meets "14 days" and "a year" meets "12 months".
DAYS = {"day": 1, "business day": 1, "working day": 1, "week": 7, "month": 30, "year": 365}
MINUTES = {"minute": 1, "hour": 60}
# Distances, weights and volumes in one unit each ("5 miles" is a distance, not the figure 5 of "5 days").
MEASURES = {
    "mile": ("metres", 1609.344), "km": ("metres", 1000), "kilometre": ("metres", 1000), "metre": ("metres", 1),
    "foot": ("metres", 0.3048), "feet": ("metres", 0.3048), "ft": ("metres", 0.3048), "inch": ("metres", 0.0254),
    "cm": ("metres", 0.01), "kg": ("grams", 1000), "kilogram": ("grams", 1000), "gram": ("grams", 1),
    "lb": ("grams", 453.59237), "litre": ("litres", 1), "gallon": ("litres", 3.785411784),
}
_MEASURE = (r"(miles?|km|kilomet(?:re|er)s?|met(?:re|er)s?|feet|foot|ft|inch(?:es)?|cm|kg|kilograms?|grams?|lbs?"
            r"|lit(?:re|er)s?|gallons?)")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_WORD = "|".join(sorted((re.escape(w) for w in WORD_NUMBERS), key=len, reverse=True))
_UNIT = r"(business day|working day|day|week|month|year|hour|minute)s?"
_PATTERNS = [  # the order matters: the first pattern to claim a stretch of text keeps it
    ("number", re.compile(r"(?<![\w$])\+?\d{1,4}(?:[-.]\d{2,4}){2,}(?!\w)")),  # a phone number, an order number
    ("amount", re.compile(rf"\$\s?({_NUMBER})|\b({_NUMBER})\s?(?:dollars|usd)\b", re.I)),
    ("percent", re.compile(rf"\b({_NUMBER})\s?(?:%|percent\b)", re.I)),
    ("always", re.compile(r"\b24\s?/\s?7\b|\baround the clock\b|\b24 hours a day\b", re.I)),
    ("time", re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?([ap])\.?\s?m\b\.?|\b(noon|midnight)\b", re.I)),
    ("measure", re.compile(rf"\b({_NUMBER}|{_WORD})[\s-]?{_MEASURE}(?!\w)", re.I)),
    ("duration", re.compile(rf"\b({_NUMBER}|{_WORD})[\s-]+{_UNIT}\b", re.I)),
    ("weekday", re.compile(r"\b(" + "|".join(WEEKDAYS) + r")s?\b", re.I)),
    ("figure", re.compile(rf"(?<![\w.$]){_NUMBER}(?![\w%]|\.\d)")),
]


@dataclass(frozen=True)
class Claim:
    text: str          # as the answer wrote it
    kind: str          # number (phone, order), amount, percent, always, time, measure, duration, weekday or figure
    value: object      # what it means, comparable across wordings: 14.0 days, 75.0 dollars, 8046.72 metres, "friday"

    @property
    def key(self) -> tuple:
        return self.kind, self.value


@dataclass(frozen=True)
class CheckedClaim:
    claim: Claim
    where: str         # "passages", "documents" (the current ones, not the passages) or "" (unsupported)
    source: str = ""   # the passage's or document's title that holds it
    answers: bool | None = None  # whether a sentence holding it answers the question (weigh); None: not weighed

    @property
    def supported(self) -> bool:
        return bool(self.where)


def _number(text: str) -> float:
    text = text.lower()
    return float(WORD_NUMBERS[text]) if text in WORD_NUMBERS else float(text.replace(",", ""))


def _value(kind: str, match: re.Match) -> object:
    groups = [g for g in match.groups() if g]
    if kind in ("amount", "percent", "figure"):
        return _number(groups[0] if groups else match.group(0))
    if kind == "number":
        return re.sub(r"\D", "", match.group(0))
    if kind == "always":
        return "24/7"
    if kind == "time":
        if match.group(4):
            return 12 * 60 if match.group(4).lower() == "noon" else 0
        hour = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "p" else 0)
        return hour * 60 + int(match.group(2) or 0)
    if kind == "measure":
        unit = match.group(2).lower().replace("meter", "metre").replace("liter", "litre")
        unit = {"inches": "inch", "lbs": "lb"}.get(unit, unit if unit in MEASURES else unit.rstrip("s"))
        family, factor = MEASURES[unit]
        return family, round(_number(match.group(1)) * factor, 3)
    if kind == "duration":
        amount, unit = _number(match.group(1)), match.group(2).lower()
        return ("days", amount * DAYS[unit]) if unit in DAYS else ("minutes", amount * MINUTES[unit])
    return match.group(1).lower()  # a weekday


def claims(text: str) -> list[Claim]:
    """The concrete claims in a text, in the order they appear; list numbering ("1.") is not a claim."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Claim]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e in taken):
                continue
            if kind == "figure" and re.match(r"\s*[.)]\s", text[end:end + 2]) and (
                    start == 0 or text[start - 1] == "\n"):
                continue  # "1. Pack the item": a list's numbering
            if kind == "duration" and match.group(1).lower() in ("a", "an") and (
                    start and text[start - 1].isalpha() or _a_rate(text[:start])):
                continue  # "once a day", "$12 a day", "8 hours a day": how often or how much, not how long
            taken.append((start, end))
            found.append((start, Claim(match.group(0).strip(), kind, _value(kind, match))))
    return [claim for _, claim in sorted(found, key=lambda item: item[0])]


def _a_rate(before: str) -> bool:
    """Whether "a day" (a week, …) after this text is a rate: after once or twice, times, a figure or a unit."""
    words = before.split()
    last = words[-1].lower().strip(",;:") if words else ""
    return (last in ("once", "twice", "thrice", "times", "per", "each") or any(c.isdigit() for c in last)
            or last.rstrip("s") in DAYS or last.rstrip("s") in MINUTES)


_AMOUNT = re.compile(rf"{_NUMBER}|{_WORD}", re.I)


def _keys(text: str) -> set[tuple]:
    """The claim keys a text backs: "$75" in it backs a bare "75" too, and "4 hours" a bare "4"."""
    keys = set()
    for claim in claims(text):
        keys.add(claim.key)
        if claim.kind != "figure" and isinstance(claim.value, (int, float)):
            keys.add(("figure", claim.value))
        elif claim.kind in ("duration", "measure"):
            keys.add(("figure", _number(_AMOUNT.match(claim.text).group(0))))
    return keys


@functools.lru_cache(maxsize=16)  # the documents are the same for every column of a question: read them once
def _index(texts: tuple[tuple[str, str], ...]) -> dict[tuple, str]:
    """Each claim key in (title, text) pairs, with the first title that holds it."""
    keys: dict[tuple, str] = {}
    for title, text in texts:
        for key in _keys(text):
            keys.setdefault(key, title)
    return keys


def check(answer: str, passages: list[tuple[str, str]], documents: list[tuple[str, str]]) -> list[CheckedClaim]:
    """Each claim of the answer, and where it is backed: in the (title, text) passages it was given,
    else in the current documents, else nowhere. A claim said twice is checked once."""
    in_passages, in_documents = _index(tuple(passages)), _index(tuple(documents))
    checked, seen = [], set()
    for claim in claims(answer):
        if claim.key in seen:
            continue
        seen.add(claim.key)
        if claim.key in in_passages:
            checked.append(CheckedClaim(claim, "passages", in_passages[claim.key]))
        elif claim.key in in_documents:
            checked.append(CheckedClaim(claim, "documents", in_documents[claim.key]))
        else:
            checked.append(CheckedClaim(claim, ""))
    return checked


WHAT_IT_CATCHES = (
    "Each amount, duration, percentage, time, weekday and distance (weight, volume) the answer states is "
    "looked up in the passages it was given and in the documents as they are now, whatever its wording "
    "(“two weeks” is “14 days”, “$75.00” is “$75”), and counts only where a sentence that holds it is "
    "among those nearest the question: a “$35” that is a club fee, given for a tune-up's price, is "
    "marked as not the answer. Nearness is the embedder's, so it can misjudge; it does not catch a claim "
    "without a figure, or a negation.")


def _figure_lines(passages: list[tuple[str, str]]) -> list[tuple[str, set[tuple]]]:
    """The passages' sentences that hold a figure, each as "title: heading: sentence" (the heading of its
    section, where the passage has one) with the claim keys it backs."""
    found = {}
    for title, text in passages:
        heading = ""
        for line in text.splitlines():
            if line.strip().startswith("#"):
                heading = line.strip().lstrip("#").strip()
                continue
            for sentence in sentences(line):
                keys = _keys(sentence)
                if keys:
                    found.setdefault(": ".join(filter(None, (title, heading, sentence))), keys)
    return list(found.items())


def figure_sentences(answer: str, passages: list[tuple[str, str]]) -> list[str]:
    """The passages' sentences that hold one of the answer's figures, each as "title: heading: sentence",
    to weigh which figure answers the question."""
    wanted = {claim.key for claim in claims(answer)}
    return [line for line, keys in _figure_lines(passages) if wanted & keys]


MARGIN = 0.05  # how much less near the question than the nearest figure's sentence an answering one may be


def weigh(checked: list[CheckedClaim], question: str, question_vector: list[float], passages: list[tuple[str, str]],
          embed: Callable[[list[str]], list[list[float]]]) -> list[CheckedClaim]:
    """Marks each claim the passages hold with whether it answers the question: whether a sentence holding
    it is as near the question (within MARGIN) as the nearest of the passages' sentences holding a
    figure; where the question names a figure itself ("on Saturdays", "the $65 tune-up"), only the
    sentences naming it can answer it. Claims the passages do not hold are marked False where the passages hold
    figures: a figure from elsewhere in the documents is not where they answer this question."""
    lines = _figure_lines(passages)
    if not lines or not checked:
        return checked
    near = [sum(a * b for a, b in zip(vector, question_vector)) for vector in embed([line for line, _ in lines])]
    scored = list(zip(lines, near))
    named = _keys(question)
    scored = [((line, keys), n) for (line, keys), n in scored if keys & named] or scored
    best = max(n for _, n in scored)
    weighed = []
    for c in checked:
        own = [n for (_, keys), n in scored if c.claim.key in keys]
        weighed.append(replace(c, answers=bool(own) and max(own) >= best - MARGIN) if c.where else c)
    return weighed
