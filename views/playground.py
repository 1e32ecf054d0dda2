"""The playground: one question to four backends, and the policy edit that shows what each one knows."""
import queue
import threading

import streamlit as st

import session
from answer_view import column_caption, render_answer
from backends import PREPARED_EDITS, backend_names, check_question, get_backend, get_edit
from backends.documents.edits import check_edit, custom_edit

st.title("RAG or fine-tuning?")
st.caption("**RAG changes what the model knows at answer time; fine-tuning changes how it behaves.** "
           "Ask a question, then edit the policy: RAG and Hybrid follow the documents at once, "
           "the fine-tuned model keeps what it learned.")

pg, kb = session.playground(), session.knowledge_base()
backends = [get_backend(name) for name in backend_names()]

question = st.text_area("Question", "How long do I have to return something?", height=68)
ask_col, edit_col, apply_col, reset_col = st.columns([1, 3, 1.3, 1], vertical_alignment="bottom")
ask = ask_col.button("Ask", type="primary", width="stretch")
OWN_EDIT = "own"
edit_name = edit_col.selectbox("Policy edit", [e.name for e in PREPARED_EDITS] + [OWN_EDIT], disabled=kb is None,
                               format_func=lambda name: "Your own edit: find and replace…" if name == OWN_EDIT
                               else get_edit(name).title)
edit = apply_col.button("Edit the policy", width="stretch", disabled=kb is None)
reset = reset_col.button("Reset", width="stretch", disabled=kb is None)
if edit_name == OWN_EDIT and kb is not None:
    doc_col, find_col, put_col = st.columns([2, 2, 2])
    own_doc = doc_col.selectbox("Document", list(kb.corpus.documents), format_func=lambda d: kb.corpus.get(d).title)
    own_find = find_col.text_input("Find", placeholder="e.g. 30 days")
    own_put = put_col.text_input("Put instead", placeholder="e.g. 14 days")
if kb is not None and kb.corpus.changed():
    st.caption("Edited documents: " + ", ".join(kb.corpus.get(d).title for d in kb.corpus.changed()))

columns = dict(zip((b.name for b in backends), st.columns(len(backends))))
for backend in backends:
    with columns[backend.name]:
        st.subheader(backend.name)
        st.caption(column_caption(pg, backend))


def stream(label: str) -> list:
    """Runs the question in a worker thread and draws each column's text as it grows."""
    slots = {}
    for name, column in columns.items():
        with column:
            st.markdown(f"**{label}**")
            slots[name] = st.empty()
    updates, outcome = queue.Queue(), {}

    def work():
        try:
            outcome["answers"] = pg.ask(question, kb, on_text=lambda name, text: updates.put((name, text)))
        except Exception as err:  # shown below, in the page's own thread
            outcome["error"] = err
        finally:
            updates.put(None)

    threading.Thread(target=work, daemon=True).start()
    finished = False
    while not finished:
        latest, item = {}, updates.get()
        while True:  # drain what queued up, so each column redraws once per pass
            if item is None:
                finished = True
                break
            latest[item[0]] = item[1]
            if updates.empty():
                break
            item = updates.get()
        for name, text in latest.items():
            slots[name].markdown(text + " ▌")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answers"]


try:
    if reset and kb is not None:
        session.show_sync(kb.reset())
        st.session_state.pop("result", None)
    if ask or edit:
        check_question(question, pg.settings)
        result = st.session_state.get("result")
        fresh = (result and result["question"] == question.strip() and kb is not None
                 and result["corpus"] == kb.corpus.version)
        if edit:
            chosen = (custom_edit(kb.corpus, own_doc, own_find, own_put) if edit_name == OWN_EDIT
                      else get_edit(edit_name))
            check_edit(kb.corpus, chosen)  # before any answering: an edit already in says so at once
            before = result["answers"] if fresh else stream("Before the edit")
            session.show_sync(kb.apply_edit(chosen))
            answers = stream(f"After: {chosen.title}")
            st.session_state.result = {"question": question.strip(), "answers": answers, "before": before,
                                       "edit": chosen.title, "corpus": kb.corpus.version}
        else:
            answers = stream("Answering")
            st.session_state.result = {"question": question.strip(), "answers": answers, "before": None,
                                       "edit": None, "corpus": kb.corpus.version if kb else None}
        st.rerun()
except ValueError as err:
    st.error(str(err))

result = st.session_state.get("result")
if result:
    before = {a.backend: a for a in result["before"] or []}
    for answer in result["answers"]:
        with columns[answer.backend]:
            if answer.backend in before:
                st.markdown("**Before the edit**")
                render_answer(before[answer.backend], "before")
                changed = before[answer.backend].text != answer.text
                marker = "" if answer.error else (":orange[· changed]" if changed else ":gray[· unchanged]")
                st.markdown(f"**After: {result['edit']}** {marker}")
            render_answer(answer)
