import json
import os
import subprocess
import sys

import pytest

from backends.evaluation import HELD_OUT, in_brand_voice, load_questions
from backends.evaluation.scoreboard import gives
from tests.conftest import ROOT


def write(tmp_path, *lines):
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = '{"id": "refund-1", "question": "How long do I have to return something?", "before": ["30"], "after": ["14"]}'


@pytest.mark.parametrize("bad, message", [
    ("{not json", "line 2: not valid JSON"),
    ('{"id": "x", "question": "q", "after": ["1"]}', "line 2: missing before"),  # after is optional: as before
    ('{"id": "x", "question": "q", "before": "30", "after": ["1"]}', "line 2: before must be a non-empty list"),
    ('{"id": "x", "question": "", "before": ["1"], "after": ["1"]}', "line 2: question must be a non-empty string"),
    ('["id", "question"]', "line 2: expected an object"),
    (GOOD, "line 2: id 'refund-1' is used twice"),
])
def test_a_malformed_questions_file_names_the_line_and_the_fault(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        load_questions(write(tmp_path, GOOD, bad))


def test_the_held_out_set_covers_every_fact_and_every_edit():
    questions = load_questions(HELD_OUT)
    assert len(questions) >= 30
    assert sum(q.edited for q in questions) == 8  # four edited facts, two questions each
    train = {json.loads(line)["question"].lower() for line in (ROOT / "training_data" / "voice_train.jsonl").open()}
    assert not [q.question for q in questions if q.question.lower() in train]


def test_brand_voice_means_the_greeting_and_the_sign_off():
    assert in_brand_voice("Hey trailblazer! You have 30 days. Happy trails! — The Larkspur crew")
    assert in_brand_voice("  hey trailblazer!  You have 30 days.\nHappy trails! — The Larkspur crew ")
    assert not in_brand_voice("You have 30 days. Happy trails! — The Larkspur crew")
    assert not in_brand_voice("Hey trailblazer! You have 30 days.")


def test_a_right_figure_counts_only_as_the_answer_and_a_wrong_one_never():
    fourteen, sixty_five = ["14 days", "14-day", "fourteen days"], ["$65"]
    assert gives("Hey trailblazer! You have 14 days from delivery. Happy trails! — The Larkspur crew", fourteen)
    assert gives("You have 14 days to return it; refunds take 5 business days.", fourteen)  # more, after it
    assert not gives("You have 30 days, or 14 days for items bought on sale.", fourteen)  # stale first
    assert not gives("Refunds take 5 business days, and returns are accepted within 14 days.", fourteen)
    assert not gives("The club fee is $35, and a tune-up is $65.", sixty_five)  # the issue's $35 for a tune-up
    assert gives("A tune-up costs $65; Trailhead Club members pay $55.", sixty_five)
    assert not gives("You have 30 days.", fourteen)
    assert gives("Clearance items are final sale.", ["final sale"])  # no figure: matched as text


def test_held_means_the_text_the_model_was_shown_holds_the_answer():
    """Whether a grounded miss is the model's reading or retrieval's: the passages held the answer when an
    expected string is in them, other figures first or not; where the prompt quoted highlights, in those."""
    from backends.answers import Source
    from backends.evaluation.scoreboard import held
    returns = Source("returns", "Returns", 1, 0.9, "## Returns\n\nYou have 30 days to return gear. Refunds take "
                                                  "5 business days.")
    assert held([returns], ["30 days"]) and held([returns], ["5 business"])
    assert not held([returns], ["14 days"])
    assert held([Source("x", "X", 1, 0.9, "Reception is open from 8am to 8pm.")], ["8pm"])  # not its first figure
    quoted = Source("returns", "Returns", 1, 0.9, returns.text, highlights=("Refunds take 5 business days.",))
    assert not held([quoted], ["30 days"]) and held([quoted], ["5 business"])  # the model saw only the highlight


def test_eval_json_has_rows_and_summary_per_phase_and_backend(tmp_path):
    path = write(tmp_path, GOOD)
    out = subprocess.run([sys.executable, "-m", "backends", "eval", "--questions", str(path), "--backend", "RAG",
                          "--backend", "Base", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PLAYGROUND_MAX_NEW_TOKENS": "32"})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [(r["phase"], r["backend"]) for r in result["rows"]] == [
        ("before", "RAG"), ("before", "Base"), ("after", "RAG"), ("after", "Base")]
    assert set(result["rows"][0]) == {"id", "phase", "backend", "answer", "fact_ok", "found", "style_ok", "total_ms"}
    assert {"phase", "backend", "fact_accuracy", "style_rate", "median_total_ms"} <= set(result["summary"][0])
    rag_before, rag_after = result["rows"][0], result["rows"][2]
    # retrieval finds the return window before and after the edit; only a grounded column is asked whether it did
    assert [r["found"] for r in result["rows"]] == [True, None, True, None]
    rag, base = result["summary"][0], result["summary"][1]
    assert rag["found_rate"] == 1.0 and rag["right_when_found"] == rag["fact_accuracy"]
    assert base["found_rate"] is None and base["right_when_found"] is None
    assert "right when held" in subprocess.run(
        [sys.executable, "-c", "import json, sys; from backends.evaluation import format_table; "
         "print(format_table(json.load(sys.stdin)))"], cwd=ROOT, input=out.stdout, capture_output=True, text=True,
        check=True).stdout
    assert rag_before["fact_ok"] == gives(rag_before["answer"], ["30"])
    assert rag_after["fact_ok"] == gives(rag_after["answer"], ["14"])
    assert result["reading"]["candidates"] == 2 and result["reading"]["max_new_tokens"] == 32  # what shaped the answers


def test_a_recorded_evaluation_is_cited_with_its_date_machine_and_figures(playground, tmp_path):
    """What the tour and the decision guide cite: the figures written into an adapter's manifest, with
    when and where they were measured, read back by the adapter loader."""
    import shutil

    from backends.evaluation.decision import measured_figures
    from backends.evaluation.scoreboard import (
        evaluate,
        parse_questions,
        record_evaluation,
        recorded_source,
        recorded_summaries,
    )
    from backends.model.adapters import check_adapter
    shipped = ROOT / "adapters" / "larkspur-voice"
    folder = shutil.copytree(shipped, tmp_path / "larkspur-voice")
    result = evaluate(playground, parse_questions("q.jsonl", (GOOD + "\n").encode()), ["RAG"])
    record_evaluation(folder, result)
    info = check_adapter(folder, playground.engine.source.fingerprint)
    (name, _, summary), = recorded_summaries({"larkspur-voice": info})
    assert summary == result["summary"] and info.manifest["evaluation"]["reading"]["candidates"] == 2
    # the rest kept
    assert info.manifest["final_loss"] == json.loads((shipped / "manifest.json").read_text())["final_loss"]
    cited = recorded_source(name, info)
    assert info.manifest["evaluation"]["date"][:10] in cited and result["measured_on"] in cited
    figures = measured_figures({"larkspur-voice": info})
    assert figures.facts_right == {"RAG": summary[1]["fact_accuracy"]} and cited in figures.evaluation_source


def test_eval_with_a_malformed_file_fails_fast_with_the_line(tmp_path):
    path = write(tmp_path, GOOD, "{oops")
    out = subprocess.run([sys.executable, "-m", "backends", "eval", "--questions", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "questions.jsonl line 2: not valid JSON" in out.stderr


@pytest.mark.parametrize("name, data, message", [
    ("mine.csv", b"query,expected\nq,a\n", "mine.csv: no 'question' column (columns: query, expected)"),
    ("mine.csv", b"question,answers\nHow long?,\n", "mine.csv line 2: answers must be a non-empty list"),
    ("mine.jsonl", b'{"question": "How long?", "answers": []}\n',
     "mine.jsonl line 1: answers must be a non-empty list"),
    ("mine.jsonl", b'{"question": "\\u202e\\u200b", "answers": ["30"]}\n', "line 1: question must be a non-empty"),
    ("mine.jsonl", b'{"question": "How long?"}\n', "mine.jsonl line 1: missing before (or answers)"),
    ("mine.jsonl", "caf\xe9".encode("cp1252"), "mine.jsonl is not UTF-8 text"),
])
def test_your_own_questions_file_names_the_line_or_column_at_fault(name, data, message):
    from backends.evaluation import parse_questions
    with pytest.raises(ValueError) as caught:
        parse_questions(name, data)
    assert message in str(caught.value), str(caught.value)


def test_your_own_questions_in_csv_or_json_lines_read_alike():
    from backends.evaluation import parse_questions
    csv_file = parse_questions("q.csv", "question,answers,after\nHow long is the frame warranty?,7-year|seven years,\n"
                                        "How long do I have to return a bike?,45 days,60 days\n".encode())
    jsonl = parse_questions("q.jsonl",
                            b'{"question": "How long is the frame warranty?", "answers": ["7-year", "seven years"]}\n'
                            b'{"question": "How long do I have to return a bike?", '
                            b'"before": ["45 days"], "after": ["60 days"]}\n')
    assert csv_file == jsonl
    assert csv_file[0].before == ("7-year", "seven years") and not csv_file[0].edited and csv_file[1].edited


def test_your_own_questions_are_scored_on_your_own_documents(playground, kb, settings):
    from backends.evaluation import evaluate, parse_questions
    from tests import documents_for_tests as make
    kb.add_files([("policy.pdf", make.pdf(["Oakridge Bikes returns policy",
                                           "You may return a bike within 45 days of delivery for a full refund."]))],
                 settings)
    kb.use_sample(False)
    questions = parse_questions("q.csv", b"question,answers\nHow many days do I have to return a bike?,45\n")
    result = evaluate(playground, questions, ["RAG", "Base"], documents=kb)
    assert [s["phase"] for s in result["summary"]] == ["now", "now"]
    assert [r["backend"] for r in result["rows"]] == ["RAG", "Base"]
    assert all(r["answer"] for r in result["rows"]) and result["summary"][0]["questions"] == 1


def test_an_adapter_of_the_users_own_is_scored_in_its_own_voice(engine, settings, tmp_path):
    import json as json_

    from backends import Playground
    from backends.evaluation.scoreboard import trained_voice
    from tests.conftest import make_adapter
    folder = make_adapter(tmp_path / "oak-voice", engine.source.fingerprint)
    manifest = json_.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json_.dumps(manifest | {"voice": ["Ahoy rider!", "Ride on!"]}))
    engine.attach("oak-voice", folder)
    try:
        own = trained_voice(Playground(engine, settings.with_(adapter="oak-voice", hybrid_adapter="oak-voice")))
        assert (own.greeting, own.sign_off) == ("Ahoy rider!", "Ride on!") and own.speaks("Ahoy rider! Yes. Ride on!")
        shipped = trained_voice(Playground(engine, settings))  # the shipped adapter's manifest predates the field
        assert shipped.speaks("Hey trailblazer! Yes. Happy trails! — The Larkspur crew")
    finally:
        engine.detach("oak-voice")


def test_the_example_questions_file_is_drawn_from_the_documents_and_reads_as_it_is():
    from backends import Corpus
    from backends.evaluation import parse_questions
    from backends.training.pairs import example_questions
    example = example_questions(Corpus.from_folder(ROOT / "sample_corpus").documents.values())
    questions = {q.question: q.before for q in parse_questions("my-questions.jsonl", example.encode())}
    assert len(questions) >= 5 and questions["How long do I have to return something?"] == ("30",)
    assert example_questions([]) == "\n"  # no documents that ask questions: nothing to offer
