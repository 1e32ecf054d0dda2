"""The guided tour: the argument in six steps, each running the real thing, with a narration and Next.
The presenter may leave at any step: the answers and the edit stay in the session's Playground."""
import streamlit as st

from backends import backend_names, get_backend, get_edit
from backends.evaluation.decision import Situation, decide
from backends.evaluation.scoreboard import recorded_source, recorded_summaries
from backends.evaluation.tour import (
    STEPS,
    TOUR_EDIT,
    TOUR_QUESTION,
    describe_answers,
    describe_verdicts,
    read_scoreboard,
)
from backends.learned import listed
from backends.model.reader import DESCRIPTION as READER_DESCRIPTION
from ui import answers as view
from ui import asking, decision, scoreboard, session

st.title("Guided tour: RAG or fine-tuning?")
pg, kb = session.playground(), session.knowledge_base()
step = st.session_state.setdefault("tour_step", 0)
edit = get_edit(TOUR_EDIT)
asked, edited = st.session_state.get("tour_asked"), st.session_state.get("tour_edited")


def go(to: int) -> None:
    st.session_state.tour_step = to


def leave() -> None:
    session.remember("question", TOUR_QUESTION)
    session.remember("edit", TOUR_EDIT)


st.progress((step + 1) / len(STEPS), text=f"Step {step + 1} of {len(STEPS)}: {STEPS[step].title}")
st.subheader(STEPS[step].title)
st.markdown(STEPS[step].narration)
if step == 0 and pg.settings.reader:  # the base every column shares is not the untouched model: said plainly
    st.caption(f":material/menu_book: The base model here is SmolLM2-135M-Instruct, {READER_DESCRIPTION}.")
notice = st.container()
action = st.container()
back, forward, out = st.columns([1, 1, 2], vertical_alignment="center")
ready = {0: asked, 1: asked, 2: edited, 3: edited}.get(step, True)
back.button("Back", icon=":material/arrow_back:", disabled=step == 0, on_click=go, args=(step - 1,), width="stretch")
if step < len(STEPS) - 1:
    forward.button("Next", type="primary", icon=":material/arrow_forward:", disabled=not ready, on_click=go,
                   args=(step + 1,), width="stretch")
else:
    forward.button("Start again", icon=":material/replay:", on_click=go, args=(0,), width="stretch")
if out.button("Leave the tour and explore", type="tertiary", icon=":material/explore:", on_click=leave):
    st.switch_page("ui/pages/playground.py")

if kb is None:
    st.stop()  # the reason is shown above: the tour needs the documents
if edit.doc_id not in kb.corpus.documents:  # the story is told on the sample's returns policy
    if edit.doc_id in kb.corpus.sample:
        notice.info("The tour tells its story on the Larkspur sample, which this session has set aside for its "
                    "own documents. Bring it back to take the tour; your documents stay as they are.")
        if notice.button("Bring the sample back beside my documents", icon=":material/undo:"):
            session.show_sync(kb.use_sample(True), later=True)
            st.rerun()
    else:
        notice.info("The tour tells its story on the Larkspur sample's returns policy, which the documents served "
                    "here do not hold. The Playground answers from them.")
    st.stop()
backends = [get_backend(name) for name in backend_names()]

if step == 0:
    undone = [kb.corpus.get(d).title for d in kb.corpus.changed()]
    if undone:  # said before the click that does it
        notice.warning(f"The tour starts from the documents as loaded: asking here undoes your edits to "
                       f"{listed(undone)} (your uploads stay). Leave the tour to keep them.",
                       icon=":material/history:")
    if action.button(f"Ask “{TOUR_QUESTION}”", type="primary", icon=":material/send:"):
        if kb.corpus.changed():  # the story starts from the documents as shipped
            session.show_sync(kb.reset(), later=True)
        st.session_state.pop("tour_edited", None)
        bodies = view.grid(pg, backends)
        asked = asking.ask(pg, kb, TOUR_QUESTION, bodies)
        st.session_state.tour_asked = st.session_state.result = asked
        session.remember("question", TOUR_QUESTION)
        st.rerun()
    if asked:
        view.draw(asked, view.grid(pg, backends), kb)
elif step == 1 and asked:
    with action:
        for line in describe_answers(asked):
            st.markdown("- " + line.replace("$", "\\$"))
    view.draw(asked, view.grid(pg, backends), kb)
elif step == 2:
    if not edited and action.button("Apply the edit and ask again", type="primary", icon=":material/edit_document:"):
        try:
            bodies = view.grid(pg, backends)
            edited = asking.ask_across_edit(pg, kb, TOUR_QUESTION, edit, bodies, asked,
                                          on_sync=lambda report: session.show_sync(report, later=True))
        except ValueError as err:  # the edit is in already (applied on the Playground): start the tour again
            notice.warning(f"{err} Press Back to the first step to start the tour from the shipped documents.")
        else:
            st.session_state.tour_edited = st.session_state.result = edited
            session.remember("edit", TOUR_EDIT)
            st.rerun()
    if edited:
        action.success(f"{edit.title}: re-indexed in {st.session_state.get('last_reindex_ms', 0):.0f} ms. Press Next.")
        view.draw(edited, view.grid(pg, backends), kb)
elif step == 3 and edited:
    action.markdown(describe_verdicts(edited).replace("$", "\\$"))
    view.draw(edited, view.grid(pg, backends), kb)
elif step == 4:
    evaluation = st.session_state.get("evaluation")
    summary, source = (evaluation["summary"], "this session's run") if evaluation else (None, "")
    recorded = recorded_summaries(pg.engine.adapters)
    if summary is None and recorded:
        name, info, summary = recorded[0]
        source = recorded_source(name, info)
    if summary:
        action.caption(f"Measured on the held-out questions, {source}. "
                       "The Evaluation page runs it again on this machine.")
        with action:
            scoreboard.charts(summary)
            st.markdown(read_scoreboard(summary).replace("$", "\\$"))
    else:
        action.info("No evaluation is recorded yet: the Evaluation page runs one (a few minutes).")
elif step == 5:
    figures = session.measured_figures(pg)
    with action:
        decision.show(decide(Situation("both", "often", "yes", "yes", "relaxed"), figures), figures)
        st.page_link("ui/pages/decide.py", label="Decide for your own problem", icon=":material/rule:")
