"""What an adapter is trained on: question and answer pairs, the shipped ones or a user's own file.

A user's file is JSON Lines (`{"question": …, "answer": …}`, or chat `{"messages": [{"role": "user",
…}, {"role": "assistant", …}]}`) or CSV with `question` and `answer` columns. A malformed file names
the line or the column at fault. An optional voice (a greeting and a sign-off) wraps every answer, so
what fine-tuning teaches shows at once; a held-out slice is kept out of training to evaluate on.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from ..documents.convert import has_text
from ..user_files import csv_rows, json_lines, text_of

MIN_PAIRS, MAX_PAIRS = 8, 5000
MAX_ANSWER_CHARS = 1000  # an answer the model can learn whole in one example
MAX_PROBLEMS_SHOWN = 5  # rows named at once in a message; the rest are counted


@dataclass(frozen=True)
class Voice:
    greeting: str = ""
    sign_off: str = ""

    def wrap(self, answer: str) -> str:
        return " ".join(part for part in (self.greeting.strip(), answer.strip(), self.sign_off.strip()) if part)

    def speaks(self, answer: str) -> bool:
        """Whether an answer opens with the greeting and closes with the sign-off (case and spacing aside)."""
        text, greeting, sign_off = (" ".join(t.lower().split()) for t in (answer, self.greeting, self.sign_off))
        return bool(greeting or sign_off) and text.startswith(greeting) and text.endswith(sign_off)


def parse_pairs(name: str, data: bytes) -> list[dict]:
    """The file's pairs, each {"question", "answer"}; raises ValueError naming the line and the fault."""
    text = text_of(name, data)
    rows = (csv_rows(name, text, ("question", "answer")) if name.lower().endswith(".csv")
            else json_lines(name, text, '{"question", "answer"} or {"messages": [...]}'))
    return check_pairs(name, rows)


def check_pairs(name: str, rows: list[tuple[str, dict]]) -> list[dict]:
    """Each (where, row) as a pair {"question", "answer"}, or a ValueError naming every row that is wrong
    (the first few, with how many more), so a table or a file is fixed in one go."""
    pairs, seen, problems = [], {}, []
    for where, row in rows:
        try:
            pair = _checked_pair(where, row, seen)
        except ValueError as err:
            problems.append(str(err))
            continue
        seen[_key(pair["question"])] = where
        pairs.append(pair)
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise ValueError((f"{len(problems)} pairs need fixing: " if len(problems) > 1 else "")
                         + "; ".join(shown) + more + ".")
    if len(pairs) < MIN_PAIRS:
        raise ValueError(f"{name} holds {len(pairs)} usable pairs; fine-tuning needs at least {MIN_PAIRS} "
                         "(and a few more to evaluate on).")
    if len(pairs) > MAX_PAIRS:
        raise ValueError(f"{name} holds {len(pairs):,} pairs, over the {MAX_PAIRS:,} a training run here takes.")
    return pairs


def _key(question: str) -> str:
    """A question as compared for repeats: case and spacing aside."""
    return " ".join(question.lower().split())


def _checked_pair(where: str, row: dict, seen: dict[str, str]) -> dict:
    if "messages" in row:
        row = _from_messages(where, row["messages"])
    question, answer = row.get("question"), row.get("answer")
    for field, value in (("question", question), ("answer", answer)):
        if not isinstance(value, str) or not has_text(value):
            raise ValueError(f"{where}: {field} must be a non-empty string")
    key = _key(question)
    if key in seen:
        short = question.strip() if len(question.strip()) <= 60 else question.strip()[:57] + "…"
        raise ValueError(f"{where}: the same question as {seen[key]} (“{short}”); keep one of them")
    if len(answer.strip()) > MAX_ANSWER_CHARS:
        raise ValueError(f"{where}: the answer is {len(answer.strip()):,} characters; training keeps answers under "
                         f"{MAX_ANSWER_CHARS:,} (about 250 tokens), so shorten it")
    return {"question": question.strip(), "answer": answer.strip()}


def _from_messages(where: str, messages) -> dict:
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError(f"{where}: messages must be a list of {{role, content}} objects")
    user = [m.get("content") for m in messages if m.get("role") == "user"]
    assistant = [m.get("content") for m in messages if m.get("role") == "assistant"]
    if not user or not assistant:
        raise ValueError(f"{where}: messages need a user turn and an assistant turn")
    return {"question": user[-1], "answer": assistant[-1]}


def split_held_out(pairs: list[dict], seed: int = 0, share: float = 0.1,
                   least: int = 3) -> tuple[list[dict], list[dict]]:
    """(training, held out): a fixed share of the pairs, at least a few, kept out of training."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    count = max(least, round(len(pairs) * share))
    kept = set(order[:count])
    return [p for i, p in enumerate(pairs) if i not in kept], [p for i, p in enumerate(pairs) if i in kept]


def draft_pairs(documents, sections: bool = True) -> list[dict]:
    """Pairs drafted from documents: each heading that asks a question (ends with "?"), with the first
    paragraph of its section as the answer; then (sections) each other section whose first paragraph
    gives a figure, asked as "What should I know about <heading>?", and a document without headings by
    its title. A question two documents ask is drafted from the first. A draft to review and fix before
    training, never trained on unseen."""
    drafted, asked = [], set()  # answers in plain words: a reply does not carry the page's Markdown

    def draft(question: str, paragraphs: list[str], doc) -> None:
        asked.add(_key(question))
        answer = paragraphs[0]
        for more in paragraphs[1:]:  # "We have two stores:" goes on into its list
            if not answer.endswith(":"):
                break
            answer += " " + more
        drafted.append({"question": question, "answer": answer, "document": doc.title})
    for doc in documents:
        for heading, paragraphs in _sections(doc.text):
            if heading.endswith("?") and paragraphs and _key(heading) not in asked:  # a question once
                draft(heading, paragraphs, doc)
    for doc in documents if sections else ():
        found = _sections(doc.text) or [(doc.title, [_plain(p) for p in re.split(r"\n\s*\n", doc.text) if p.strip()])]
        for heading, paragraphs in found:
            paragraphs = [p for p in paragraphs if FIGURE.search(p)][:1]  # a fact to learn, not an introduction
            question = f"What should I know about {_subject(heading)}?"
            if heading and not heading.endswith("?") and paragraphs and _key(question) not in asked:
                draft(question, paragraphs, doc)
    return drafted


def _subject(heading: str) -> str:
    """A heading as the object of a question: "Showers and laundry" as "showers and laundry"."""
    words = heading.split()
    if words and words[0][:1].isupper() and words[0][1:].islower():
        words[0] = words[0].lower()
    return " ".join(words)


def undrafted(documents, drafted: list[dict]) -> list[str]:
    """The titles of the documents no pair was drafted from (no heading of theirs asks a question, and no
    section of theirs gives a figure)."""
    used = {p["document"] for p in drafted}
    return [doc.title for doc in documents if doc.title not in used]


_HEADING = re.compile(r" {0,3}#{1,6}(?:\s+(.*?))?\s*#*\s*$")  # "## How long?", its text on the next line or not


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """Each heading of a Markdown text with its section's paragraphs, in plain words."""
    found: list[tuple[str, list[str]]] = []
    lines: list[str] = []

    def paragraph_ends():
        if found and any(line.strip() for line in lines):
            found[-1][1].append(_plain("\n".join(lines)))
        lines.clear()
    for line in text.splitlines():
        heading = _HEADING.fullmatch(line)
        if heading:
            paragraph_ends()
            found.append(((heading.group(1) or "").strip(), []))
        elif line.strip():
            lines.append(line)
        else:
            paragraph_ends()
    paragraph_ends()
    return found


_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+(.*)")


def _plain(block: str) -> str:
    """A Markdown paragraph or list as a reply would say it: emphasis, code marks and link targets
    taken out, list items run on after one another ("Two stores: Bend; Hood River."), a table's rows too."""
    rows = [line.strip().strip("|").split("|") for line in block.splitlines()]
    if len(rows) > 2 and all(line.lstrip().startswith("|") for line in block.splitlines()):
        # a table, read a row at a time past its header and rule: "Price: $45 a year; Discount: 15%."
        said = "; ".join(": ".join(" ".join(_inline(c).split()) for c in row if c.strip())
                         for row in rows[2:] if any(c.strip() for c in row))
        return said + ("." if said and said[-1] not in ".!?" else "")
    parts: list[tuple[bool, str]] = []
    for line in block.splitlines():
        item = _ITEM.match(line)
        text = " ".join(_inline(item.group(1) if item else line).split())
        if text:
            parts.append((bool(item), text))
    said = ""
    for i, (is_item, text) in enumerate(parts):
        if i:
            said += "; " if is_item and parts[i - 1][0] else " "
        said += text
    if parts and parts[-1][0] and said[-1] not in ".!?:":
        said += "."
    return said


def _inline(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [words](address): the words
    text = re.sub(r"\*\*|__|`", "", text)
    return re.sub(r"(?<![\w*])[*_](\S(?:.*?\S)?)[*_](?![\w*])", r"\1", text)  # *one* or _one_ emphasised word(s)


FIGURE = re.compile(r"\$?\d[\d,.:/–-]*\d|\$?\d")  # an amount, a count, a time, a date: what an answer must get right


def example_questions(documents, most: int = 20) -> str:
    """A questions file to start an evaluation from (JSON Lines): the questions the documents ask in
    their headings, each with the first figure its answer gives as the string a right answer holds.
    Questions whose answer gives no figure are left out: nothing simple to check an answer against."""
    lines = []
    for pair in draft_pairs(documents, sections=False):
        figures = FIGURE.findall(pair["answer"])
        if figures:
            lines.append(json.dumps({"question": pair["question"], "answers": [figures[0]]}, ensure_ascii=False))
    return "\n".join(lines[:most]) + "\n"
