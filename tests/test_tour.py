"""The guided tour and the decision guide, run by Streamlit's AppTest on the real model."""
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

TIMEOUT = 240


def page(path):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def button(at, label):
    return next(b for b in at.button if b.label.startswith(label))


def step(at):
    return next(p.proto.text for p in at.get("progress") if p.proto.text.startswith("Step"))


def text(at):
    return " ".join(m.value for m in at.markdown)


def test_the_tour_runs_the_real_thing_from_the_question_to_the_decision(engine, knowledge_parts):
    at = page("ui/pages/tour.py")
    assert "Step 1 of 6" in step(at)
    assert button(at, "Next").disabled  # nothing to talk about before the answers are in
    button(at, "Ask “How long").click().run()
    assert not at.exception and not button(at, "Next").disabled
    assert [h.value for h in at.subheader][1:] == ["Base", "RAG", "Fine-tuned", "Hybrid"]

    button(at, "Next").click().run()
    assert "Step 2 of 6" in step(at)
    narration = text(at)
    for name in ("Base", "RAG", "Fine-tuned", "Hybrid"):
        assert f"**{name}** gives" in narration
    assert "citing Returns and refunds" in narration and "in the brand voice" in narration

    button(at, "Next").click().run()
    assert button(at, "Next").disabled
    button(at, "Apply the edit and ask again").click().run()
    assert not at.exception and "re-indexed in" in at.success[0].value
    button(at, "Next").click().run()
    verdicts = text(at)
    assert "Fine-tuned still says 30 days: learned before the edit" in verdicts  # no retrieval: it cannot know
    assert "**After: Refund window: 30 → 14 days**" in verdicts and "Returns and refunds** · version 2" in " ".join(
        c.value for c in at.caption)

    button(at, "Next").click().run()
    assert "Facts right" in text(at) and len(at.get("vega_lite_chart")) == 4
    button(at, "Next").click().run()
    assert "Step 6 of 6" in step(at)
    assert at.success[0].value.startswith("**Both (Hybrid).**")
    assert any("Fine-tuning to keep facts current" in w.value for w in at.warning)

    button(at, "Leave the tour").click().run()  # to the Playground, the tour's answers and edit still shown
    assert not at.exception and at.text_area[0].value == "How long do I have to return something?"
    assert "**Before the edit**" in text(at)


def test_the_decision_guide_answers_for_the_team_s_situation(engine, knowledge_parts):
    at = page("ui/pages/decide.py")
    assert not at.success and "Answer the 5 questions on the left" in at.info[0].value  # nothing chosen for them
    for name, value in (("problem", "knowledge"), ("changes", "often"), ("citations", "yes"),
                        ("can_evaluate", "yes"), ("latency", "relaxed")):
        at.radio(key=f"decide-{name}").set_value(value).run()
    assert at.success[0].value.startswith("**RAG.**")
    assert any("Fine-tuning to hide bad grounding" in w.value for w in at.warning)
    # the recorded evaluation measured where RAG's answers were lost, and the guide names the step
    assert any("RAG's passages held the answer" in w.value and " is what fails " in w.value for w in at.warning)
    at.radio(key="decide-problem").set_value("behaviour").run()
    at.radio(key="decide-citations").set_value("no").run()
    at.radio(key="decide-changes").set_value("rarely").run()
    assert at.success[0].value.startswith("**Fine-tuning.**")
    assert "trained voice on 100%" in text(at)
    assert any("RAG to fix a behaviour problem" in w.value for w in at.warning)
    at.radio(key="decide-can_evaluate").set_value("no").run()
    assert at.success[0].value.startswith("**Not fine-tuning yet.**")
    assert any("Tuning what you cannot measure" in w.value for w in at.warning)


def test_the_tour_offers_the_sample_back_when_the_session_set_it_aside(engine, knowledge_parts, settings):
    """Its story is told on the Larkspur sample: a session answering from its own documents only is told
    so, and brings the sample back with one button, its own documents kept."""
    from tests.documents_for_tests import docx
    at = page("ui/pages/tour.py")
    kb = at.session_state["kb"]
    kb.add_files([("handbook.docx", docx("Oakridge staff handbook", {"Leave": "Staff get 27 days of leave."}))],
                 settings)
    kb.use_sample(False)
    at.run()
    assert "set aside for its own documents" in at.info[0].value
    assert not [b for b in at.button if b.label.startswith("Ask")]  # no tour on documents it is not about
    button(at, "Bring the sample back").click().run()
    assert not at.exception and button(at, "Ask “How long")
    assert "handbook.docx" in kb.corpus.uploaded.values() and kb.corpus.uses_sample


def test_no_recommendation_repeats_its_own_name():
    """"Fine-tuning. Fine-tuning: …" read as a stutter: a headline never begins with its choice's name."""
    import itertools

    from backends.evaluation.decision import QUESTIONS, Figures, Situation, decide
    for values in itertools.product(*(options for _, options in QUESTIONS.values())):
        made = decide(Situation(*values), Figures())
        first = made.choice.split(" (")[0].split(" now")[0].lower()
        assert not made.headline.lower().startswith(first), (made.choice, made.headline)


def test_the_scoreboard_bars_carry_their_numbers():
    import pandas as pd

    from ui.scoreboard import _grouped
    wide = pd.DataFrame({"before the edits": [50.0, 81.0], "with the edits": [47.0, 78.0]},
                        index=pd.Index(["RAG", "Hybrid"], name="backend"))
    layers = _grouped(wide).to_dict()["layer"]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers]
    assert marks == ["bar", "text"] and layers[1]["encoding"]["text"]["field"] == "percent"


def test_the_tour_says_before_it_undoes_the_visitor_s_edits(engine, knowledge_parts):
    from backends import get_edit
    at = page("ui/pages/tour.py")
    assert not at.warning  # documents as loaded: nothing to undo, nothing said
    at.session_state["kb"].apply_edit(get_edit("refund-window"))  # an edit made on the Playground
    at.run()
    assert "asking here undoes your edits to Returns and refunds" in at.warning[0].value


def test_the_scoreboard_narration_says_who_leads_and_why_from_its_own_numbers():
    import json

    from backends.evaluation.tour import read_scoreboard
    summary = json.loads((ROOT / "adapters" / "larkspur-voice-untouched" / "manifest.json").read_text())[
        "evaluation"]["summary"]  # a recorded evaluation whose figures this test knows
    said = read_scoreboard(summary)
    assert said.startswith("Before the edits **Fine-tuned** and **Hybrid** lead together on facts (78%): "
                           "Fine-tuned: its adapter memorised the very facts")  # as recorded: a tie, said as one
    assert "RAG gets 41%: it reads the passages" in said and "Fine-tuned gets" not in said
    assert "Fine-tuned still gives the old figure in 75% of the edited questions" in said
    hybrid_ahead = [dict(r, fact_accuracy=0.81) if r["backend"] == "Hybrid" and r["phase"] == "before" else r
                    for r in summary]
    assert read_scoreboard(hybrid_ahead).startswith("Before the edits **Hybrid** leads on facts (81%)")
    assert "Fine-tuned gets 78%: its adapter memorised" in read_scoreboard(hybrid_ahead)
    flipped = [dict(r, fact_accuracy=0.9) if r["backend"] == "Fine-tuned" and r["phase"] == "before" else r
               for r in summary]
    assert read_scoreboard(flipped).startswith("Before the edits **Fine-tuned** leads on facts (90%): its adapter "
                                               "memorised the very facts these questions ask")
    assert read_scoreboard([]) == ""
