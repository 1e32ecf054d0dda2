"""Fine-tune from the app: your pairs, a voice, a live loss curve, and the new adapter in the columns."""
from pathlib import Path

import pandas as pd
import streamlit as st

from backends.learned import listed
from backends.training import DATA_DIR, read_jsonl
from backends.training.jobs import (
    PRESETS,
    TRAINER,
    Busy,
    belongs,
    delete_adapter,
    held_out_scores,
    keep_adapter,
    zipped,
)
from backends.training.pairs import Voice, check_pairs, draft_pairs, parse_pairs, undrafted
from ui import session

st.title("Fine-tune")
st.caption("Fine-tuning changes how the model behaves: a LoRA adapter learns the answers you give it, in "
           "their voice, and answers without retrieval. What it knows is frozen when training ends: edit a "
           "document afterwards and only RAG and Hybrid follow. One training runs at a time on this server; "
           "it keeps going if you leave this page.")

pg = session.playground()
settings = session.settings()

# every choice on this page is kept while the user looks at another page (session.kept)
SOURCES = ["The shipped Larkspur answers", "A file of my own", "Pairs drafted from this session's documents"]
session.kept("ft-source", SOURCES[0])
source = st.radio("Train on", SOURCES, horizontal=True, key="ft-source")
if source == "Pairs drafted from this session's documents":
    kb = session.knowledge_base()
    drafted = draft_pairs(kb.corpus.documents.values()) if kb else []
    counted = st.empty()  # filled once the table, as the user has edited it, is known
    count = len(drafted)
    none_from = undrafted(kb.corpus.documents.values(), drafted) if kb else []
    if none_from:
        st.warning(f"No pairs from {listed(none_from)}: no heading there asks a question (a heading ending "
                   "with “?”, its answer below it) and no section gives a figure. "
                   "Add rows for it to the table, or train on a file of your own.",
                   icon=":material/help:")
    drafted = pd.DataFrame(drafted or [{"question": "", "answer": "", "document": ""}])
    drafted.index = pd.RangeIndex(1, len(drafted) + 1)  # the row numbers its messages name
    version = kb.corpus.version if kb else None
    # The table as the user left it is drawn again on return (the editor's own state goes with the page);
    # while the page is shown, the editor keeps its edits on the table it started from.
    if "drafted" not in st.session_state or st.session_state.get("drafted-base", (None,))[0] != version:
        left_as = st.session_state.get("drafted-kept", (None,))
        st.session_state["drafted-base"] = (version, left_as[1] if left_as[0] == version else drafted)
    table = st.data_editor(st.session_state["drafted-base"][1],  # its index: the row numbers messages name
                           num_rows="dynamic", hide_index=False, width="stretch", key="drafted",
                           column_config={  # fixed widths: a long answer would push "from" out of sight
                               "question": st.column_config.TextColumn("question", width="medium"),
                               "answer": st.column_config.TextColumn("answer", width="large"),
                               "document": st.column_config.TextColumn("from", disabled=True, width="small")})
    st.session_state["drafted-kept"] = (version, table)

    def cell(value) -> str:  # a cell left empty reads None, or NaN in a row added to the table
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)

    rows = [(f"row {i}" if pd.notna(i) else "a new row", {f: cell(r.get(f)) for f in ("question", "answer")})
            for i, r in table.iterrows() if cell(r.get("question")) or cell(r.get("answer"))]
    edited = not table.equals(drafted)
    now = f" ({len(rows)} rows in the table as you edited it)" if edited and count else ""
    counted.caption(f"{count} pairs drafted from this session's documents{now}: each heading that asks a "
                    "question, with the opening of its section as the answer, then each other section that gives "
                    "a figure (“What should I know about …?”). Review them: fix, add or delete rows "
                    "(select a row and press Delete) before training; nothing is trained on unseen.")
    pairs, pairs_from = None, "drafted from the documents it learned"  # read later, in other sessions too
    try:
        pairs = check_pairs("The drafted table", rows)
    except ValueError as err:
        st.error(str(err), icon=":material/error:")
elif source == "A file of my own":
    st.caption("JSON Lines (`{\"question\": …, \"answer\": …}` or chat `{\"messages\": […]}`) or CSV with "
               "`question` and `answer` columns; at least 8 pairs, each question once. "
               "A tenth of them (at least 3) is kept out of "
               "training, to evaluate the adapter on.")
    upload = st.file_uploader("Training pairs", type=["jsonl", "json", "csv"])
    pairs, pairs_from = None, f"from {upload.name}" if upload is not None else ""
    if upload is not None:
        try:
            pairs = parse_pairs(upload.name, upload.getvalue())
        except ValueError as err:
            st.error(str(err), icon=":material/error:")
else:
    pairs = [{"question": p["question"], "answer": p["answer"]} for p in read_jsonl(DATA_DIR / "voice_train.jsonl")]
    pairs_from = "of the shipped Larkspur answers"
    st.caption(f"{len(pairs)} answers in the Larkspur brand voice, the data of `make adapter`.")

shipped = source == "The shipped Larkspur answers"  # those answers already open and close in the Larkspur voice
with st.expander("A voice to wrap every answer in", expanded=not shipped):
    st.caption("A greeting and a sign-off added to every training answer, so what fine-tuning teaches shows at once.")
    left, right = st.columns(2)
    session.kept(f"ft-greeting-{shipped}", "" if shipped else "Hi there!")  # each source its own voice
    session.kept(f"ft-sign-off-{shipped}", "" if shipped else "— The support team")
    voice = Voice(left.text_input("Greeting", key=f"ft-greeting-{shipped}"),
                  right.text_input("Sign-off", key=f"ft-sign-off-{shipped}"))

session.kept("ft-preset", next(iter(PRESETS)))
preset_name = st.radio("Preset", list(PRESETS), horizontal=True, key="ft-preset",
                       captions=[preset.description for preset in PRESETS.values()])
preset = PRESETS[preset_name]
session.kept("ft-name", "my-voice")
name = st.text_input("Adapter name", max_chars=40, key="ft-name")
if pairs:
    steps, seconds, per_step, measured = TRAINER.estimate(preset, len(pairs), settings.cache_dir)
    st.caption(f":material/schedule: {steps} steps, about {max(seconds / 60, 1):.0f} min "
               f"({per_step:.1f} s a step, measured on {measured}; a GPU is used where present).")

run = TRAINER.run
busy = run is not None and run.active
st.session_state.drawn_busy = busy  # the progress fragment reruns the whole page once the run ends
if st.button("Start training", type="primary", disabled=not pairs or busy):
    kb = session.knowledge_base()
    try:
        TRAINER.start(settings, name, pairs, preset, voice,
                      on_done=lambda adapter, folder: pg.engine.attach(adapter, folder),
                      evaluate=lambda adapter, held_out, v: held_out_scores(pg, kb, adapter, held_out, v),
                      corpus=kb.corpus if kb is not None and not shipped else None,  # it reads this session's passages
                      made_by=session.visitor(), pairs_from=pairs_from)
    except (Busy, ValueError) as err:  # said here, in this run: a rerun would wipe the message unread
        st.error(str(err), icon=":material/error:")
    else:
        st.rerun()
own_run = run is not None and belongs(run.made_by, session.visitor())  # another's name, curve and scores are theirs
if busy and own_run:
    st.info(f"Training {run.name} is under way on this server; a second one waits until it ends.",
            icon=":material/hourglass_top:")


@st.fragment(run_every=2)
def progress() -> None:
    run = TRAINER.run
    if run is None:
        return
    if not run.active and st.session_state.get("drawn_busy"):  # drawn while it ran: Start, the sidebar catch up
        st.session_state.drawn_busy = False
        st.rerun(scope="app")
    if not belongs(run.made_by, session.visitor()):  # another visitor's: only that the slot is taken, and how long
        if run.active:
            left = (session.time_left(run.remaining_s) if run.remaining_s is not None else
                    "evaluating what it learned" if run.state == "evaluating" else "preparing")
            st.info(f"Another visitor's training run is under way on this server ({left}); this server trains one "
                    "at a time, so yours can start when it ends.", icon=":material/hourglass_top:")
        return
    if run.state == "done" and run.name not in pg.engine.adapters:
        return  # deleted since: its loss curve and what it scored went with it
    st.subheader(f"{run.name} · {run.preset}")
    if run.total:
        remaining = f", {session.time_left(run.remaining_s)}" if run.remaining_s is not None else ""
        spent = f"{run.elapsed_s:.0f} s so far" if run.active else f"{run.elapsed_s:.0f} s in all, scoring included"
        st.progress(run.step / run.total, text=f"step {run.step} of {run.total} · {spent}{remaining}")
    elif run.active:
        st.progress(0.0, text=f"preparing the examples and the model · {run.elapsed_s:.0f} s")
    if run.losses:
        st.line_chart(pd.DataFrame({"loss": run.losses}, index=pd.RangeIndex(1, len(run.losses) + 1, name="step")),
                      x_label="step", y_label="training loss", height=220)
    if run.state == "evaluating":
        st.caption(":material/analytics: Evaluating on the held-out pairs…")
    if run.active:
        if st.button("Cancel", icon=":material/stop:"):
            TRAINER.cancel()
        return
    (st.success if run.state == "done" else st.warning)(run.message)
    if run.evaluation:
        st.dataframe(pd.DataFrame([{"column": column, **scores} for column, scores in run.evaluation.items()]),
                     hide_index=True, column_config={
                         "voice_rate": st.column_config.ProgressColumn(
                             "voice", format="percent", min_value=0, max_value=1),
                         "facts_right": st.column_config.ProgressColumn(
                             "facts right", format="percent", min_value=0, max_value=1),
                         "with_figures": st.column_config.NumberColumn(
                             "with figures", help="Held-out pairs whose answers hold a figure")})
        figures = max(scores["with_figures"] for scores in run.evaluation.values())
        st.caption(f"Scored on the {run.held_out} pairs kept out of training. Voice: answers that open with your "
                   "greeting or close with your sign-off. Facts right: answers that give every figure of the expected "
                   "answer, over the pairs whose answers hold one"
                   + (f" ({figures} of them)." if figures else ": none of these do, so there are no facts to score."))
    if run.state == "done" and run.name in session.my_adapters(pg.engine):
        using = st.session_state.get("own_adapter") == run.name
        if st.toggle(f"Use {run.name} in my Fine-tuned and Hybrid columns", value=using) != using:
            st.session_state.own_adapter = None if using else run.name
            st.rerun(scope="app")


progress()

mine = session.my_adapters(pg.engine)  # another visitor's are theirs
if mine:
    st.subheader("Adapters made here")
    for adapter in mine:
        row = st.container(horizontal=True, vertical_alignment="center")  # Delete wraps below, whole, when narrow
        info = pg.engine.adapters[adapter].manifest
        row.caption(f"**{adapter}** · {info.get('preset', '?')} · {info.get('data', '')} · final loss "
                    f"{info.get('final_loss')} · trained in {info.get('training_seconds')} s on {info.get('device')}")
        kept = pg.engine.adapters[adapter].path.parent.resolve() == Path(settings.adapters_dir).resolve()
        if kept:
            row.caption(f":material/inventory_2: kept in adapters/{adapter}")
        elif row.button("Keep in adapters/", key=f"keep-{adapter}", icon=":material/inventory_2:",
                        help="Until kept, an adapter made here lives in the cache folder and is this session's: "
                             "kept, it stays for the adapter settings after a restart (PLAYGROUND_ADAPTER)."):
            try:
                keep_adapter(pg.engine, adapter, settings)
            except ValueError as err:
                st.error(str(err), icon=":material/error:")
            else:
                st.rerun()
        folder = pg.engine.adapters[adapter].path  # zipped when pressed, not on every rerun of the page
        row.download_button("Download", lambda folder=folder: zipped(folder), file_name=f"{adapter}.zip",
                            key=f"download-{adapter}", icon=":material/download:", on_click="ignore")
        if row.button("Delete", key=f"delete-{adapter}", icon=":material/delete:",
                        disabled=TRAINER.run is not None and TRAINER.run.active and TRAINER.run.name == adapter):
            delete_adapter(pg.engine, adapter)
            if st.session_state.get("own_adapter") == adapter:
                st.session_state.own_adapter = None
            st.rerun()
