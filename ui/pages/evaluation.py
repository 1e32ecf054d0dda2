"""The evaluation in numbers: which columns follow the edited policy, which stay stale, which speak in the voice."""
import json

import pandas as pd
import streamlit as st

from backends.evaluation import HELD_OUT, evaluate, load_questions, parse_questions
from backends.evaluation.runs import EvaluationRun
from backends.evaluation.scoreboard import LARKSPUR, recorded_summaries
from backends.training.pairs import example_questions
from ui import scoreboard, session

st.title("Evaluation")
st.caption("Every column answers every held-out question twice: on the documents as shipped (**before**) and "
           "with all four policy edits applied (**after**). *Facts right*: the answer contains the expected "
           "figure. *Brand voice*: it opens with “Hey trailblazer!” and closes with “Happy trails! — The "
           "Larkspur crew”. *Stale*: after the edits, answers to an edited fact that still give the old figure. "
           "*Passages held it* (RAG and Hybrid): the passages the answer was written from hold the expected figure; "
           "where they held it and the answer is wrong, the model misread them, and where they did not, retrieval "
           "missed.")

pg = session.playground()


def table(summary: list[dict]) -> None:
    shown = pd.DataFrame(summary).reindex(columns=[
        "phase", "backend", "answered", "questions", "fact_accuracy", "found_rate", "right_when_found", "style_rate",
        "stale_rate", "median_total_ms"])
    # what this evaluation did not measure: stale on your own questions, passages held in one recorded before
    shown = shown.loc[:, shown.notna().any()]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "fact_accuracy": st.column_config.ProgressColumn("facts right", format="percent", min_value=0, max_value=1),
        "found_rate": st.column_config.ProgressColumn("passages held it", format="percent", min_value=0, max_value=1),
        "right_when_found": st.column_config.ProgressColumn("right when held", format="percent", min_value=0,
                                                            max_value=1),
        "style_rate": st.column_config.ProgressColumn("brand voice", format="percent", min_value=0, max_value=1),
        "stale_rate": st.column_config.ProgressColumn("stale", format="percent", min_value=0, max_value=1),
        "median_total_ms": st.column_config.NumberColumn("median ms", format="%d")})


def show(result: dict, key: str) -> None:
    greeting, sign_off = result.get("voice") or ("", "")
    if (greeting, sign_off) != (LARKSPUR.greeting, LARKSPUR.sign_off) and (greeting or sign_off):
        st.caption(f"Voice scored: your adapter's, answers that open with “{greeting}” and close with "
                   f"“{sign_off}”.")
    scoreboard.charts(result["summary"])
    table(result["summary"])
    if result.get("rows"):
        with st.expander("Every answer"):
            st.dataframe(pd.DataFrame(result["rows"]), hide_index=True, width="stretch")
    a, b, c = st.columns(3)
    a.download_button("Summary as CSV", pd.DataFrame(result["summary"]).to_csv(index=False), f"{key}-summary.csv",
                      "text/csv", on_click="ignore", icon=":material/download:", key=f"{key}-summary", width="stretch")
    if result.get("rows"):
        b.download_button("Every answer as CSV", pd.DataFrame(result["rows"]).to_csv(index=False), f"{key}-answers.csv",
                          "text/csv", on_click="ignore", icon=":material/download:", key=f"{key}-rows", width="stretch")
    c.download_button("All of it as JSON", json.dumps(result, indent=2, ensure_ascii=False), f"{key}.json",
                      "application/json", on_click="ignore", icon=":material/download:", key=f"{key}-json",
                      width="stretch")


def watch(job: str, done_key: str) -> None:
    """A run's progress, live (it goes on if the user changes page); its result lands in `done_key`."""
    @st.fragment(run_every=1.0)
    def progress() -> None:
        run: EvaluationRun | None = st.session_state.get(job)
        if run is None:
            return
        if run.state in ("running", "cancelling"):
            left = f", {session.time_left(run.remaining_s)}" if run.remaining_s is not None else ""
            st.progress(run.done / run.total, text=f"{run.where} · {run.elapsed_s:.0f} s{left}")
            if run.state == "cancelling":
                st.caption("Stopping after the question it is on…")
            elif st.button("Cancel", icon=":material/stop:", key=f"{job}-cancel"):
                run.cancelled.set()
                st.rerun(scope="fragment")
            return
        del st.session_state[job]
        if run.state == "done":
            st.session_state[done_key] = run.result
        else:
            st.session_state[f"{job}-ended"] = ("Cancelled: nothing was kept." if run.state == "cancelled"
                                                else f"The evaluation failed: {run.error}")
        st.rerun(scope="app")
    progress()
    ended = st.session_state.pop(f"{job}-ended", None)
    if ended:
        st.warning(ended)


for name, info, _ in recorded_summaries(pg.engine.adapters):
    recorded = info.manifest["evaluation"]
    st.subheader(f"Recorded with adapter {name}")
    st.caption(f"Evaluated {(recorded.get('date') or '?')[:10]}"
               + (f" on {recorded['measured_on']}" if recorded.get("measured_on") else "")
               + f"; the adapter was trained {(info.manifest.get('date') or '?')[:10]} on corpus "
               f"{info.corpus_version}, seed {info.manifest.get('seed')}, "
               f"final loss {info.manifest.get('final_loss')}.")
    show(info.manifest["evaluation"], f"recorded-{name}")

st.subheader("Run it now")
questions = load_questions(HELD_OUT)
st.caption(f"{len(questions)} held-out questions, each asked before and after the edits ({2 * len(questions)} "
           "rounds, all four columns batched): a few minutes on 2 cores. It keeps going if you visit another page.")
running = "evaluation-run" in st.session_state
if st.button("Run the evaluation", type="primary", disabled=running):
    st.session_state["evaluation-run"] = EvaluationRun.start(
        lambda progress: evaluate(pg, questions, progress=progress), len(questions), 2)
    st.rerun()
watch("evaluation-run", "evaluation")
if "evaluation" in st.session_state:
    st.caption(f"Measured on {st.session_state.evaluation.get('measured_on', 'this machine')}.")
    show(st.session_state.evaluation, "evaluation")

st.subheader("Your own questions")
st.caption("A JSON Lines file (`question`, `answers`: the strings a right answer holds, optionally `after`) or a CSV "
           "(columns `question` and `answers`, strings separated by `|`), scored on this session's documents as they "
           "are now, your uploads and edits included.")
kb = session.knowledge_base()
if kb is not None:
    example = example_questions(kb.corpus.documents.values())
    if example.strip():
        st.download_button("Download an example drawn from your documents", example, "my-questions.jsonl",
                           "application/json", on_click="ignore", icon=":material/download:",
                           help="The questions your documents ask in their headings, each with the figure its "
                                "answer gives. Edit it, add your own, and upload it here.")
own = st.file_uploader("Questions file", type=["jsonl", "csv"])
if own is not None and st.button("Score my questions", disabled="own-run" in st.session_state):
    try:
        mine = parse_questions(own.name, own.getvalue())
    except ValueError as err:
        st.error(str(err))
    else:
        if kb is None:
            st.stop()  # the reason is shown above
        st.session_state["own-run"] = EvaluationRun.start(
            lambda progress: evaluate(pg, mine, progress=progress, documents=kb), len(mine), 1)
        st.rerun()
watch("own-run", "own_evaluation")
if "own_evaluation" in st.session_state:
    show(st.session_state.own_evaluation, "own-evaluation")
