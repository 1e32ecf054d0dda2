"""The decision guide: the questions a team must answer, and RAG, fine-tuning or both for its answers,
each reason backed by what this playground measured."""
import streamlit as st

from backends.evaluation.decision import QUESTIONS, Situation, decide
from ui import decision, session

st.title("Decision guide")
st.caption("Answer five questions about your problem. The answer beside them changes as you do, and each reason cites "
           "a figure this playground measured: in this session (your last question and edit, an evaluation you "
           "ran) or in the evaluation recorded with the shipped adapter.")

pg = session.playground()
answers = {}
left, right = st.columns([1, 1.2], gap="large")
with left:  # nothing chosen until the visitor chooses: a preset answer would be the guide's, not theirs
    for name, (question, options) in QUESTIONS.items():
        session.kept(f"decide-{name}", None)
        answers[name] = st.radio(question, list(options), key=f"decide-{name}", format_func=options.get)
with right:
    left_open = [QUESTIONS[name][0] for name, answer in answers.items() if answer is None]
    if left_open:
        st.info(f"Answer {'the question' if len(left_open) == 1 else f'the {len(left_open)} questions'} on the "
                f"left for a recommendation ({len(QUESTIONS) - len(left_open)} of {len(QUESTIONS)} answered).",
                icon=":material/rule:")
    else:
        figures = session.measured_figures(pg)
        decision.show(decide(Situation(**answers), figures), figures)
