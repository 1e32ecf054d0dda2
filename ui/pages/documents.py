"""The documents RAG and Hybrid answer from: upload your own, read them, edit any by hand, remove, reset."""
import streamlit as st

from backends import PREPARED_EDITS
from ui import session

st.title("Documents")
kb = session.knowledge_base()
if kb is None:
    st.stop()
settings = session.settings()
corpus = kb.corpus

st.subheader("Your own documents")
st.caption(f"Markdown, text, PDF, Word, PowerPoint or HTML, up to {settings.max_upload_mb} MB each. They join this "
           "session's documents only: nobody else sees them, and they are gone when you close the tab. A file "
           "uploaded again replaces its document.")
with st.form("upload", clear_on_submit=True, border=False):
    # any file is taken, so one of a type it cannot read is named with the types it can (a type filter
    # would refuse it in the browser, unnamed, and keep it out of the results)
    files = st.file_uploader("Files", accept_multiple_files=True)
    add = st.form_submit_button("Add to my documents", type="primary")
if add and files:
    bars = [st.progress(0.0, text=f"{f.name}: waiting") for f in files]

    def starting(i, name):
        if i:
            bars[i - 1].progress(1.0, text=f"{files[i - 1].name}: done")
        bars[i].progress(0.5, text=f"{name}: converting, chunking, embedding…")
    results = kb.add_files([(f.name, f.getvalue()) for f in files], settings, starting)
    st.session_state.upload_results = [(not r.error, r.line) for r in results]
    st.rerun()
for ok, line in st.session_state.pop("upload_results", []):
    (st.success if ok else st.error)(line, icon=":material/check:" if ok else ":material/error:")

if corpus.uploaded:
    served = "the served documents" if corpus.names else "the Larkspur sample"
    sample = st.toggle(f"Keep {served} beside my documents", value=corpus.uses_sample)
    if sample != corpus.uses_sample:
        session.show_sync(kb.use_sample(sample))
        st.rerun()

st.subheader("Read and edit")
st.caption(f"{len(corpus.documents)} documents ({len(corpus.uploaded)} of your own), corpus version "
           f"{corpus.version}. Edits here change only your session's copy.")


def label(doc_id: str) -> str:
    return corpus.get(doc_id).title + (" · yours" if doc_id in corpus.uploaded else "")  # its title names its file


doc_id = st.selectbox("Document", list(corpus.documents), format_func=label)
doc = corpus.get(doc_id)
source = corpus.uploaded.get(doc_id) or f"{doc_id}.md"
st.caption(f"`{source}` · version {doc.version}" + (" · edited" if doc_id in corpus.changed() else ""))

text = st.text_area("Text", doc.text, height=420, key=f"text-{doc_id}-{doc.version}")
apply_col, remove_col, reset_col = st.columns(3)
if apply_col.button("Apply my edit", type="primary", width="stretch"):
    try:
        session.show_sync(kb.update_document(doc_id, text))
        st.rerun()
    except ValueError as err:
        st.error(str(err))  # the text area keeps what was typed
if remove_col.button("Remove this document", width="stretch"):
    try:
        session.show_sync(kb.remove_document(doc_id))
        st.rerun()
    except ValueError as err:
        st.error(str(err))
if reset_col.button("Reset all documents", width="stretch"):
    session.show_sync(kb.reset())
    st.rerun()

with st.expander("Prepared policy edits (applied from the Playground)"):
    for edit in PREPARED_EDITS:
        st.markdown(f"**{edit.title}** — {edit.description}")
