"""The playground: one question to four backends, and the policy edit that shows what each one knows."""
from urllib.parse import urlencode

import streamlit as st

from backends import PREPARED_EDITS, backend_names, check_question, get_backend, get_edit
from backends.documents.edits import check_edit, custom_edit
from ui import answers as view
from ui import asking, session

DEFAULT_QUESTION = "How long do I have to return something?"
OWN_EDIT = "own"

st.title("RAG or fine-tuning?")
st.caption("**RAG changes what the model knows at answer time; fine-tuning changes how it behaves.** "
           "Ask a question, then edit the policy: RAG and Hybrid follow the documents at once, "
           "the fine-tuned model keeps what it learned.")

pg, kb = session.playground(), session.knowledge_base()
backends = [get_backend(name) for name in backend_names()]
# the prepared edits whose document is in this session's corpus (the sample can be set aside on the Documents page)
edit_names = [e.name for e in PREPARED_EDITS if kb is None or e.doc_id in kb.corpus.documents] + [OWN_EDIT]

if "link-read" not in st.session_state:  # a prepared link: ?q=question&edit=refund-window
    st.session_state["link-read"] = True
    if st.query_params.get("q"):
        session.remember("question", st.query_params["q"])
    if st.query_params.get("edit") in edit_names:
        session.remember("edit", st.query_params["edit"])
session.kept("question", DEFAULT_QUESTION)
if session.kept("edit", edit_names[0]) not in edit_names:  # its document was set aside since
    session.remember("edit", edit_names[0])


def ask_suggested(question: str) -> None:
    session.remember("question", question)
    st.session_state.ask_now = True


question = st.text_area("Question", key="question", height=68)
edit_name = st.selectbox("Policy edit", edit_names, key="edit", disabled=kb is None,
                         format_func=lambda name: "Your own edit: find and replace…" if name == OWN_EDIT
                         else get_edit(name).title)
own = edit_name == OWN_EDIT and kb is not None
# Parts that come and go sit in containers of their own, so the elements below (the columns) keep their
# places from one run to the next: else, while a run streams, the browser shows last run's columns too.
own_fields = st.container()
if own:
    doc_col, find_col, put_col = own_fields.columns([2, 2, 2])
    ids = sorted(kb.corpus.documents, key=lambda d: not kb.corpus.file_of(d))  # the user's own uploads first
    own_doc = doc_col.selectbox("Document", ids, format_func=lambda d: kb.corpus.get(d).title)
    own_find = find_col.text_input("Find", placeholder="e.g. 30 days")
    own_put = put_col.text_input("Put instead", placeholder="e.g. 14 days")
# buttons keep their labels whole, wrapping when narrow
with st.container(horizontal=True, vertical_alignment="center"):
    ask = st.button("Ask", type="primary") or st.session_state.pop("ask_now", False)
    edit = st.button("Edit the policy", icon=":material/edit_document:", disabled=kb is None)
    reset = st.button("Reset", icon=":material/restart_alt:", disabled=kb is None)
    if kb is not None and not own:
        with st.popover("Link for a meeting", icon=":material/link:"):
            st.caption("Opens the Playground with this question and this edit chosen:")
            st.code((st.context.url or "").split("?")[0] + "?" + urlencode({"q": question.strip(), "edit": edit_name}),
                    language=None, wrap_lines=True)
hint = st.container()
if kb is not None and not own:
    chosen = get_edit(edit_name)
    touches = "It touches the question above." if chosen.question == question.strip() else "A question it touches:"
    hint.caption(f"{chosen.description} {touches}")
    if chosen.question != question.strip():
        hint.button(f"Ask “{chosen.question}”", type="tertiary", icon=":material/help:",
                    on_click=ask_suggested, args=(chosen.question,))
notice = st.container()  # messages land here, under the buttons, where the user is looking
edited = st.container()
if kb is not None and kb.corpus.changed():
    edited.caption("Edited documents: " + ", ".join(kb.corpus.get(d).title for d in kb.corpus.changed()))

bodies = view.grid(pg, backends)
below = st.empty()  # the time chart and the downloads; cleared while new answers stream

try:
    under_way = asking.interrupted_edit(kb)  # an edit that went in while its run was cut short
    resume = under_way is not None and not (ask or edit or reset)
    if resume:  # back on this page: its answers after are still due
        said = f"“{under_way.edit.title}” went in while its answers were cut short; answering again after it."
        notice.info(said, icon=":material/replay:")
        session.toast_later(said)  # still said once the answers are in
        question, edit = under_way.question, True
    elif ask or reset:
        st.session_state.pop("edit_under_way", None)
    waiting = asking.unfinished_answers(kb)  # asked, then another page chosen while the answers streamed
    if waiting is not None and waiting.label == asking.ANSWERING and not (ask or edit or reset):
        said = f"The answers to “{waiting.question}”, asked before you left this page, go on here."
        notice.info(said, icon=":material/replay:")
        session.toast_later(said)
        question, ask = waiting.question, True
    if reset and kb is not None:
        session.show_sync(kb.reset(), later=True)
        st.session_state.pop("result", None)
        st.rerun()  # so the sidebar and the edited-documents line show the documents as they are now
    if ask or edit:
        notice.empty()  # over the last run's note ("Shown: the answers to …"), which stood while these streamed
        question = check_question(question, pg.settings)
        below.empty()
        if edit:
            chosen = (under_way.edit if resume
                      else custom_edit(kb.corpus, own_doc, own_find, own_put) if edit_name == OWN_EDIT
                      else get_edit(edit_name))
            if under_way is None or (under_way.question, under_way.edit) != (question, chosen):
                st.session_state.pop("edit_under_way", None)  # another edit or question: that one is given up
                check_edit(kb.corpus, chosen)  # before any answering: an edit already in says so at once
            elif not resume:  # pressed again while its answers after came: the same edit goes on, said once
                session.toast_later(f"“{chosen.title}” is in already: its answers after the edit go on, from where "
                                    "they were cut short.")
            result = asking.ask_across_edit(pg, kb, question, chosen, bodies, st.session_state.get("result"),
                                          on_sync=lambda report: session.show_sync(report, later=True))
        else:
            result = asking.ask(pg, kb, question, bodies)
        st.session_state.result = result
        st.rerun()
except ValueError as err:
    notice.error(str(err))

result = st.session_state.get("result")
if result:
    if result.question != question.strip():
        notice.caption(f":material/info: Shown: the answers to “{result.question}”. Ask to answer the question above.")
    switched = view.adapters_switched(pg, result)
    if switched:
        notice.warning(switched, icon=":material/swap_horiz:")
    view.draw(result, bodies, kb)
    with below.container():
        st.subheader("Where the time went")
        view.time_chart(result)
        st.subheader("Take it away")
        view.downloads(result)
