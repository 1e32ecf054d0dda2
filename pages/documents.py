"""The documents RAG and Hybrid answer from: read them, edit any of them by hand, or reset them."""
import streamlit as st

import session
from backends import PREPARED_EDITS

st.title("Documents")
kb = session.knowledge_base()
if kb is None:
    st.stop()

st.caption(f"{len(kb.corpus.documents)} documents, corpus version {kb.corpus.version} "
           f"(as shipped: {kb.corpus.original_version}). Edits here change only your session's copy.")

doc_id = st.selectbox("Document", list(kb.corpus.documents), format_func=lambda d: kb.corpus.get(d).title)
doc = kb.corpus.get(doc_id)
st.caption(f"`{doc_id}.md` · version {doc.version}" + (" · edited" if doc_id in kb.corpus.changed() else ""))

text = st.text_area("Text", doc.text, height=420, key=f"text-{doc_id}-{doc.version}")
apply_col, reset_col = st.columns(2)
if apply_col.button("Apply my edit", type="primary", use_container_width=True):
    try:
        session.show_sync(kb.update_document(doc_id, text))
        st.rerun()
    except ValueError as err:
        st.error(str(err))  # the text area keeps what was typed
if reset_col.button("Reset all documents", use_container_width=True):
    session.show_sync(kb.reset())
    st.rerun()

with st.expander("Prepared policy edits (applied from the Playground)"):
    for edit in PREPARED_EDITS:
        st.markdown(f"**{edit.title}** — {edit.description}")
