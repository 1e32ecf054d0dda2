"""What a browser session holds, and the heavy things every session shares.

The model, the embedder and the Qdrant client load once per server (st.cache_resource around the
factories in backends). Each session keeps only small things of its own: its documents (a Corpus
with its own Index collection) and its last answers.
"""
from __future__ import annotations

import streamlit as st

from backends import IndexUnavailable, KnowledgeBase, Playground, Settings, load_engine, load_knowledge_parts


def settings() -> Settings:
    """Read on every run (it is tiny), so the heavy objects below are keyed on what is configured now."""
    return Settings.load()


@st.cache_resource(show_spinner="Loading the model (the first start converts the GGUF, about 20 s)…")
def _playground(configured: Settings) -> Playground:
    return Playground(load_engine(configured), configured)


@st.cache_resource(show_spinner="Loading the embedder…")
def _knowledge_parts(configured: Settings):
    return load_knowledge_parts(configured)


def playground() -> Playground:
    return _playground(settings())


def knowledge_parts():
    return _knowledge_parts(settings())


def knowledge_base() -> KnowledgeBase | None:
    """This session's documents and index; None (with the reason shown) when the index cannot be used."""
    if "kb" not in st.session_state:
        try:
            store, embedder = knowledge_parts()
            with st.spinner("Indexing the documents…"):
                st.session_state.kb = KnowledgeBase.create(settings(), store, embedder)
        except (IndexUnavailable, ValueError) as err:
            st.error(f"The document index is unavailable, so RAG and Hybrid cannot answer: {err}")
            return None
    return st.session_state.kb


def show_sync(report) -> None:
    names = ", ".join(report.documents) or "nothing"
    st.toast(f"Re-indexed {names}: {report.added} chunk(s) replaced ({report.embedded} embedded afresh), "
             f"{report.deleted} removed, {report.kept} kept, in {report.ms:.0f} ms")
