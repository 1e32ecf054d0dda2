"""The evaluation in numbers: which columns follow the edited policy, which stay stale, which speak in the voice."""
import pandas as pd
import streamlit as st

import session
from backends.evaluation import HELD_OUT, evaluate, format_table, load_questions, parse_questions

st.title("Evaluation")
st.caption("Every column answers every held-out question twice: on the documents as shipped (**before**) and "
           "with all four policy edits applied (**after**). *Facts right*: the answer contains the expected "
           "figure. *Brand voice*: it opens with “Hey trailblazer!” and closes with “Happy trails! — The "
           "Larkspur crew”. *Stale*: after the edits, answers to an edited fact that still give the old figure.")

pg = session.playground()


def show(summary: list[dict]) -> None:
    table = pd.DataFrame(summary)[["phase", "backend", "answered", "questions", "fact_accuracy", "style_rate",
                                   "stale_rate", "median_total_ms"]]
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "fact_accuracy": st.column_config.ProgressColumn("facts right", format="percent", min_value=0, max_value=1),
        "style_rate": st.column_config.ProgressColumn("brand voice", format="percent", min_value=0, max_value=1),
        "stale_rate": st.column_config.ProgressColumn("stale", format="percent", min_value=0, max_value=1),
        "median_total_ms": st.column_config.NumberColumn("median ms", format="%d")})


for name, info in pg.engine.adapters.items():
    recorded = (info.manifest.get("evaluation") or {}).get("summary")
    if recorded:
        st.subheader(f"Recorded when adapter {name} was trained")
        st.caption(f"Trained {info.manifest.get('date', '?')} on corpus {info.corpus_version}, "
                   f"seed {info.manifest.get('seed')}, final loss {info.manifest.get('final_loss')}.")
        show(recorded)

st.subheader("Run it now")
questions = load_questions(HELD_OUT)
st.caption(f"{len(questions)} held-out questions × 2 phases, all columns batched: a few minutes on 2 cores.")
if st.button("Run the evaluation", type="primary"):
    bar = st.progress(0.0, text="Answering…")
    result = evaluate(pg, questions, progress=lambda done, total: bar.progress(done / total, text=f"{done}/{total} questions"))
    bar.empty()
    st.session_state.evaluation = result
if "evaluation" in st.session_state:
    show(st.session_state.evaluation["summary"])
    with st.expander("Every answer"):
        st.dataframe(pd.DataFrame(st.session_state.evaluation["rows"]), hide_index=True, width="stretch")
    st.download_button("Download as text", format_table(st.session_state.evaluation), "evaluation.txt")

st.subheader("Your own questions")
st.caption("A JSON Lines file (`question`, `answers`: the strings a right answer holds, optionally `after`) or a CSV "
           "(columns `question` and `answers`, strings separated by `|`), scored on this session's documents as they "
           "are now, your uploads and edits included.")
own = st.file_uploader("Questions file", type=["jsonl", "csv"])
if own is not None and st.button("Score my questions"):
    try:
        mine = parse_questions(own.name, own.getvalue())
    except ValueError as err:
        st.error(str(err))
    else:
        kb = session.knowledge_base()
        if kb is None:
            st.stop()  # the reason is shown above
        bar = st.progress(0.0, text="Answering…")
        st.session_state.own_evaluation = evaluate(
            pg, mine, progress=lambda done, total: bar.progress(done / total, text=f"{done}/{total} questions"),
            documents=kb)
        bar.empty()
if "own_evaluation" in st.session_state:
    show(st.session_state.own_evaluation["summary"])
    with st.expander("Every answer to your questions"):
        st.dataframe(pd.DataFrame(st.session_state.own_evaluation["rows"]), hide_index=True, width="stretch")
