"""The reader's made-up training data: reproducible, varied, and free of anything Larkspur's."""
from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import ROOT

from backends.evaluation.grounding import claims
from backends.training.reading_data import NOT_SAID, generate, larkspur_figures

COUNT = 3000  # more than the shipped reader's examples, so every example it trains on is checked


@pytest.fixture(scope="module")
def rows():
    return generate(COUNT, 0, ROOT)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9$%]+", text.lower())


def _shingles(text: str, n: int = 6) -> set[tuple]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _texts_kept_out() -> list[str]:
    """Larkspur's documents and questions, and the two made-up organisations kept for measuring."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "sample_corpus").glob("*.md"))]
    organisations = sorted((ROOT / "training_data").glob("*_organisation/documents/*"))
    texts += [p.read_text(encoding="utf-8") for p in organisations]
    for name in ("voice_train.jsonl", "development.jsonl", "heldout.jsonl", "unseen_organisation/questions.jsonl",
                 "development_organisation/questions.jsonl"):
        for line in (ROOT / "training_data" / name).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                texts += [row["question"], row.get("answer", "")]
    return texts


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(rows):
    assert generate(50, 0, ROOT) == rows[:50]
    assert generate(50, 1, ROOT) != rows[:50]


def test_nothing_of_larkspur_is_in_it(rows):
    kept_out = _texts_kept_out()
    questions = {" ".join(_words(t)) for t in kept_out}
    taken = set().union(*(_shingles(t) for t in kept_out))
    figures = larkspur_figures(ROOT)
    for row in rows:
        shown = row["messages"][0]["content"] + "\n" + row["messages"][1]["content"] + "\n" + row["answer"]
        assert "larkspur" not in shown.lower()
        assert " ".join(_words(row["question"])) not in questions, row["question"]
        shared = _shingles(shown) & taken
        assert not shared, (row["question"], shared)
        assert not {c.key for c in claims(shown)} & figures, row["question"]


def test_answers_give_the_passage_figure_or_say_the_documents_do_not(rows):
    unanswered = [r for r in rows if not r["answerable"]]
    assert 0.01 < len(unanswered) / len(rows) < 0.04  # one in fifty
    assert all(r["answer"] == NOT_SAID for r in unanswered)
    for row in rows:
        if row["answerable"]:
            prompt = row["messages"][1]["content"]
            figures = {c.key for c in claims(row["answer"])}
            assert figures and figures <= {c.key for c in claims(prompt)}, row
            assert not row["answer"].startswith("#")


def test_the_answer_stands_in_every_position_among_passages_that_hold_other_figures(rows):
    positions = Counter()
    for row in rows[:500]:
        if not row["answerable"]:
            continue
        passages = row["messages"][1]["content"].split("Question:")[0].split("\n\n")
        blocks = "\n\n".join(passages)
        parts = re.split(r"\n\n(?=[A-Z][\w ]+: )", blocks.removeprefix("Documents:\n"))
        assert len(parts) == 3, parts
        figure = claims(row["answer"])[0].key
        positions[next(i for i, p in enumerate(parts) if figure in {c.key for c in claims(p)})] += 1
        assert sum(len(claims(p)) for p in parts) >= 3  # distractors hold figures of their own
    assert min(positions[i] for i in range(3)) > 0.2 * sum(positions.values())


def test_many_organisations_topics_and_shapes(rows):
    assert len({r["organisation"] for r in rows}) >= 30
    assert len({r["topic"] for r in rows}) >= 20
    prompts = [r["messages"][1]["content"] for r in rows]
    for shape in ("| What | Figure |", "\n- ", ": ## ", ": # "):
        assert sum(shape in p for p in prompts) > 0.05 * len(rows), shape
    assert len({r["question"] for r in rows}) > 300


def test_the_same_passages_are_asked_about_two_topics_so_only_the_question_tells_which_answers(rows):
    asked = {}
    for row in rows:
        asked.setdefault(row["messages"][1]["content"].split("Question:")[0], []).append(row)
    pairs = [group for group in asked.values() if len(group) == 2]
    assert sum(map(len, pairs)) > 0.9 * len(rows)
    assert all(a["topic"] != b["topic"] and a["answer"] != b["answer"] for a, b in pairs)
