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
with left:
    for name, (question, options) in QUESTIONS.items():
        session.kept(f"decide-{name}", next(iter(options)))
        answers[name] = st.radio(question, list(options), key=f"decide-{name}", format_func=options.get)
with right:
    figures = session.measured_figures(pg)
    decision.show(decide(Situation(**answers), figures), figures)
