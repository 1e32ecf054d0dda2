"""Every page, run by Streamlit's AppTest in this process (sharing the session's loaded model)."""
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

TIMEOUT = 240


@pytest.fixture
def app(engine, knowledge_parts):  # the fixtures load the heavy parts once; the app's factories reuse them
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def column_texts(at):
    return " ".join(m.value for m in at.markdown)


def test_the_playground_shows_four_columns_and_which_model_each_uses(app):
    assert [h.value for h in app.subheader] == ["Base", "RAG", "Fine-tuned", "Hybrid"]
    captions = " ".join(c.value for c in app.caption)
    assert "SmolLM2-135M-Instruct" in captions and "adapter **larkspur-voice**" in captions
    # the base every column shares, said in one plain sentence (the reader, on by default)
    assert "taught to answer from passages on made-up documents; it has never seen Larkspur's" in captions
    # RAG's grounded candidates, said where they are on: RAG's column only, not Hybrid's (an adapter's)
    assert captions.count("writes 2 answers, from its best 3 and 1 passages") == 1


def columns_by_heading(at) -> dict:
    """Each column's block in the grid: the innermost block that holds its heading and no other column's."""
    from streamlit.testing.v1.element_tree import Block
    found = {}

    def walk(block):
        for child in block.children.values():
            if isinstance(child, Block):
                walk(child)
                heads = [h.value for h in child.subheader]
                if len(heads) == 1 and heads[0] not in found:
                    found[heads[0]] = child
    walk(at.main)
    return found


def test_ask_answers_in_every_column(app):
    app.button[0].click().run()  # Ask
    assert not app.exception and not app.error
    columns = columns_by_heading(app)
    assert list(columns) == ["Base", "RAG", "Fine-tuned", "Hybrid"]
    answers = {}
    for name, column in columns.items():  # an answer in each column, with its own timings under it
        texts = [m.value for m in column.markdown if m.value.strip() and not m.value.startswith("**")]
        timings = [c.value for c in column.caption if "tokens in" in c.value]
        assert texts and len(timings) == 1, (name, texts, timings)
        answers[name] = texts[0]
    assert len(set(answers.values())) == 4  # four answers, not one drawn four times
    assert "30" in answers["RAG"] and "30" in answers["Hybrid"]  # the grounded columns read the refund window
    sources = " ".join(c.value for c in columns["RAG"].caption)
    assert "Returns and refunds** · version 1" in sources and ":material/timer:" in sources
    shown = [m.value for m in columns["RAG"].markdown] + [t.value for t in columns["RAG"].text]
    assert not [v for v in shown if re.search(r"(^|\n)\s*#", v)]  # the passages' headings, not raw "##"


def test_edit_the_policy_shows_before_and_after(app):
    edit = next(b for b in app.button if b.label == "Edit the policy")
    edit.click().run()
    assert not app.exception and not app.error
    text = column_texts(app)
    assert "**Before the edit**" in text and "**After: Refund window: 30 → 14 days**" in text
    sources = " ".join(c.value for c in app.caption)
    assert "version 1" in sources and "version 2" in sources
    assert any(t.value.startswith("Re-indexed Returns and refunds in ") and t.value.endswith(
        " ms: 1 changed chunk rewritten, 6 kept as they were.") for t in app.toast), [t.value for t in app.toast]
    edit.click().run()  # the same edit again: said at once, and the before/after stays on screen
    assert "already applied" in app.error[0].value and "**Before the edit**" in column_texts(app)
    reset = next(b for b in app.button if b.label == "Reset")
    reset.click().run()
    assert "Before the edit" not in column_texts(app)


def test_an_edit_whose_run_was_cut_short_after_it_went_in_is_answered_on_return(app):
    """A second click on Edit, or another page chosen, while the answers after the edit stream: the edit is
    in, and the answers before are kept; back on the page, the answers after it are given."""
    from backends import get_edit
    from ui.asking import EditUnderWay
    app.button[0].click().run()  # Ask: the answers before
    kb, edit, before = app.session_state.kb, get_edit("refund-window"), app.session_state.result.answers
    kb.apply_edit(edit)  # as ask_across_edit leaves it when the run stops during the answers after
    app.session_state.edit_under_way = EditUnderWay(app.session_state.result.question, edit, before, kb.corpus.version)
    app.run()
    assert not app.exception and not app.error
    assert any("went in while its answers were cut short" in t.value for t in app.toast)
    text = column_texts(app)
    assert "**Before the edit**" in text and "**After: Refund window: 30 → 14 days**" in text
    app.run()  # answered once, not again on every run
    assert not any("cut short" in t.value for t in app.toast)
    next(b for b in app.button if b.label == "Edit the policy").click().run()
    assert "already applied" in app.error[0].value and "**Before the edit**" in column_texts(app)
    # the second click of a double click, which cut the first run short: the same edit goes on, said once
    app.session_state.edit_under_way = EditUnderWay(app.session_state.result.question, edit, before, kb.corpus.version)
    next(b for b in app.button if b.label == "Edit the policy").click().run()
    assert not app.error and any("is in already: its answers after the edit go on" in t.value for t in app.toast)
    assert "**Before the edit**" in column_texts(app) and "**After: Refund window: 30 → 14 days**" in column_texts(app)


def test_answers_that_streamed_while_the_user_was_on_another_page_are_shown_on_return(app):
    """Another page chosen while the answers stream: the generation goes on, and the Playground, shown
    again, follows it to the end (or shows it, ended) instead of throwing it away."""
    from backends import Playground, Settings, load_engine
    from ui import asking
    configured = Settings.load()  # the app's own settings, so the generation is the session's
    pg = Playground(load_engine(configured), configured)
    app.session_state.answering = asking.start_answering(pg, app.session_state.kb, "Do you ship to Canada?",
                                                         asking.ANSWERING)
    app.run()
    assert not app.exception and not app.error
    assert any("asked before you left this page" in t.value for t in app.toast)
    assert app.session_state.result.question == "Do you ship to Canada?" and "answering" not in app.session_state
    assert [a.answer.backend for a in app.session_state.result.answers] == ["Base", "RAG", "Fine-tuned", "Hybrid"]


@pytest.mark.parametrize("question, message", [("   ", "Type a question"), ("x" * 20_000, "20,000 characters")])
def test_a_bad_question_gets_a_message_and_keeps_the_text(app, question, message):
    app.text_area[0].input(question).run()
    app.button[0].click().run()
    assert message in app.error[0].value
    assert app.text_area[0].value == question


def test_documents_page_refuses_an_empty_document_and_keeps_nothing_lost(engine, knowledge_parts):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("ui/pages/documents.py").run()
    assert not at.exception
    assert at.title[0].value == "Documents"
    original = at.text_area[0].value
    at.text_area[0].input("   ").run()
    next(b for b in at.button if b.label == "Apply my edit").click().run()
    assert "cannot be empty" in at.error[0].value
    assert at.text_area[0].value == "   "  # what was typed stays, and the document is unchanged
    at.text_area[0].input(original.replace("Larkspur", "Larkspur Outfitters")).run()
    next(b for b in at.button if b.label == "Apply my edit").click().run()
    assert not at.error and "version 2" in " ".join(c.value for c in at.caption)


def test_an_unreachable_qdrant_server_is_explained_and_base_still_answers(engine, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_QDRANT_LOCATION", "http://127.0.0.1:9")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert any("127.0.0.1:9" in e.value for e in at.error)
    at.button[0].click().run()
    assert any("No document index" in w.value for w in at.warning)


def test_evaluation_page_shows_the_figures_recorded_with_the_adapter(engine, knowledge_parts):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("ui/pages/evaluation.py").run()
    assert not at.exception
    assert at.title[0].value == "Evaluation"
    assert any(h.value == "Recorded with adapter larkspur-voice" for h in at.subheader)
    recorded = engine.adapters["larkspur-voice"].manifest["evaluation"]["date"][:10]  # not the training date
    assert any(c.value.startswith(f"Evaluated {recorded} on ") for c in at.caption)
    table = at.dataframe[0].value
    assert set(table["backend"]) == {"Base", "RAG", "Fine-tuned", "Hybrid"}
    assert set(table["phase"]) == {"before", "after"}
    assert any(b.label == "Run the evaluation" for b in at.button)


def test_a_first_start_shows_its_steps_in_the_main_area(monkeypatch, engine, knowledge_parts):
    import backends.loading
    monkeypatch.setattr(backends.loading, "_loaded", {})  # as in a fresh server process (the cache folder stays)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    status = at.main.status[0]
    assert status.label.startswith("Ready: started in") and status.state == "complete"
    steps = " ".join(m.value for m in status.markdown)
    for step in ("Finding the model's weights", "Loading SmolLM2-135M-Instruct", "Attaching the adapter larkspur-voice",
                 "Loading the embedder"):
        assert step in steps, steps
    assert [h.value for h in at.subheader] == ["Base", "RAG", "Fine-tuned", "Hybrid"]  # and then the page itself
    at.run()
    assert not at.main.status  # shown on the first start only


def test_files_uploaded_on_the_documents_page_join_the_session_and_a_bad_one_is_named(app):
    from tests import documents_for_tests as make
    app.switch_page("ui/pages/documents.py").run()
    uploader = app.main.get("file_uploader")[0]
    uploader.upload("oakridge.pdf", make.pdf([make.POLICY, "Frames carry a 7-year warranty."]), "application/pdf")
    uploader.upload("broken.pdf", b"%PDF-1.4 not really", "application/pdf")
    uploader.upload("leave.docx", make.docx("Staff handbook", {"Leave": "Staff get 27 days of leave."}))
    app.button(key="FormSubmitter:upload-Add to my documents").click().run()
    assert not app.exception, app.exception
    assert any("oakridge.pdf: added" in s.value for s in app.success)
    assert any("leave.docx: added" in s.value for s in app.success)
    assert any("broken.pdf" in e.value for e in app.error)
    options = app.selectbox[0].options
    assert any("oakridge.pdf" in o and o.endswith("· yours") and o.count("oakridge.pdf") == 1 for o in options)
    assert any("Returns and refunds" in o for o in options)
    app.toggle[0].set_value(False).run()  # answer from my documents only
    assert all("yours" in o for o in app.selectbox[0].options)
    app.switch_page("ui/pages/playground.py").run()  # the prepared edits change the sample: only your own is offered
    assert not app.exception, app.exception
    assert app.selectbox(key="edit").options == ["Your own edit: find and replace…"]
    assert app.text_input[0].label == "Find"
    app.switch_page("ui/pages/documents.py").run()
    app.toggle[0].set_value(True).run()  # the sample beside them again
    app.switch_page("ui/pages/playground.py").run()
    app.selectbox(key="edit").set_value("own").run()
    document = next(s for s in app.selectbox if s.label == "Document")
    assert app.session_state.kb.corpus.file_of(document.value) == "oakridge.pdf"  # your own upload comes first


def test_your_own_edit_says_when_the_text_is_not_there_and_changes_nothing(app):
    app.selectbox[0].set_value("own").run()
    version = app.session_state.kb.corpus.version
    app.text_input[0].input("ninety-nine days").run()
    app.text_input[1].input("two days").run()
    next(b for b in app.button if b.label == "Edit the policy").click().run()
    assert any("“ninety-nine days” is not in" in e.value and "nothing was changed" in e.value for e in app.error)
    assert app.session_state.kb.corpus.version == version


def test_your_own_questions_are_scored_on_the_evaluation_page_and_a_bad_file_is_named(app):
    app.switch_page("ui/pages/evaluation.py").run()
    uploader = app.main.get("file_uploader")[0]
    uploader.upload("mine.csv", b"query,expected\nq,a\n", "text/csv").run()
    next(b for b in app.button if b.label == "Score my questions").click().run()
    assert any("mine.csv: no 'question' column" in e.value for e in app.error)
    uploader = app.main.get("file_uploader")[0]
    uploader.upload("mine.csv", b"question,answers\nHow long do I have to return something?,30 days|30-day\n",
                    "text/csv").run()
    next(b for b in app.button if b.label == "Score my questions").click().run()
    for _ in range(120):  # it runs in the background; each run of the page shows how far it is
        if not any(b.label == "Cancel" for b in app.button):
            break
        time.sleep(0.5)
        app.run()
    assert not app.exception and not app.error
    table = app.dataframe[-2].value  # the summary of your questions, then every answer
    assert list(table["phase"]) == ["now"] * 4 and list(table["questions"]) == [1] * 4
    held = table.set_index("backend")["found_rate"]  # "passages held it": the return window was retrieved
    assert held["RAG"] == 1.0 and held["Hybrid"] == 1.0 and held[["Base", "Fine-tuned"]].isna().all()
    assert any(c.value.startswith("Not measured here: a stale answer keeps a fact's old figure after an edit")
               for c in app.caption)  # not "no edits in this run", whatever edits the session holds


def test_the_evaluation_runs_in_the_background_says_where_it_is_and_cancels(app):
    app.switch_page("ui/pages/evaluation.py").run()
    next(b for b in app.button if b.label == "Run the evaluation").click().run()
    bar = next(p.proto.text for p in app.get("progress"))
    assert bar.startswith("before the edits, question 1 of 32")
    app.switch_page("ui/pages/playground.py").run()  # another page: the run goes on
    app.switch_page("ui/pages/evaluation.py").run()
    next(b for b in app.button if b.label == "Cancel").click().run()
    for _ in range(120):
        if any("Cancelled: nothing was kept." in w.value for w in app.warning):
            break
        time.sleep(0.5)
        app.run()
    assert any("Cancelled: nothing was kept." in w.value for w in app.warning)
    assert not any(b.label == "Cancel" for b in app.button) and "evaluation" not in app.session_state


def test_the_question_and_the_edit_survive_a_visit_to_another_page(app):
    app.text_area[0].input("Is shipping free?").run()
    app.selectbox(key="edit").set_value("free-shipping").run()
    app.switch_page("ui/pages/documents.py").run()
    app.switch_page("ui/pages/playground.py").run()
    assert app.text_area[0].value == "Is shipping free?" and app.selectbox(key="edit").value == "free-shipping"
    suggested = next(b for b in app.button if b.label.startswith("Ask “How much do I have to spend"))
    suggested.click().run()  # the edit's own question, asked in one click
    assert not app.exception and app.text_area[0].value == "How much do I have to spend to get free shipping?"
    assert "Shipping** · version 1" in " ".join(c.value for c in app.caption)


def test_answers_from_an_adapter_switched_off_since_say_so(app, engine, tmp_path):
    from tests.conftest import make_adapter
    engine.attach("other-voice", make_adapter(tmp_path / "other-voice", engine.source.fingerprint))
    try:
        app.button[0].click().run()  # Ask: answered with the shipped adapter
        app.session_state["own_adapter"] = "other-voice"  # as the Fine-tune page's toggle sets it
        app.run()
        assert any(w.value == "Fine-tuned and Hybrid answered with adapter larkspur-voice; your columns use "
                   "other-voice now. Ask again for its answers." for w in app.warning), [w.value for w in app.warning]
        app.button[0].click().run()
        assert not any("answered with adapter" in w.value for w in app.warning)
    finally:
        engine.detach("other-voice")
