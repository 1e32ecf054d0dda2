"""Drawing an answer in a column: its text, what it was made from, and how long it took."""
from __future__ import annotations

import streamlit as st

from backends import Answer, Backend, Playground


def column_caption(pg: Playground, backend: Backend) -> str:
    adapter = pg.adapter_for(backend)
    if not adapter:
        used = "no adapter"
    elif adapter in pg.engine.adapters:
        used = f"adapter **{adapter}** (learned corpus {pg.engine.adapters[adapter].corpus_version})"
    else:
        used = f"adapter **{adapter}**: not installed"
    retrieval = "retrieves passages" if backend.uses_retrieval else "no retrieval"
    contrast = pg.settings.contrast_alpha if backend.uses_retrieval else 0.0
    if contrast:
        retrieval += (" · context-aware decoding (" + ("adaptive" if contrast == "adaptive" else f"α = {contrast:g}")
                      + "): pushed toward what the passages add")
    return f"{backend.description}  \n{pg.engine.label} · {used} · {retrieval}"


def timings_line(answer: Answer) -> str:
    t = answer.timings
    parts = [f"retrieval {t.retrieval_ms:.0f} ms"] if answer.sources else []
    parts += [f"first token {t.ttft_ms / 1000:.1f} s", f"{t.new_tokens} tokens in {t.generation_ms / 1000:.1f} s",
              f"total {t.total_ms / 1000:.1f} s", f"prompt {t.prompt_tokens} tokens"]
    return ":material/timer: " + " · ".join(parts)


def render_answer(answer: Answer, phase: str = "now") -> None:
    if answer.error:
        st.warning(answer.error)
        return
    if answer.note:
        st.info(answer.note)
    if answer.stale:
        st.caption(f":orange[:material/history: Answers from what it learned of corpus "
                   f"{answer.provenance.adapter_corpus_version}; the documents are now "
                   f"{answer.provenance.index_corpus_version}.]")
    slug = "".join(c if c.isalnum() else "-" for c in answer.backend.lower())
    with st.container(border=True, key=f"answer-{slug}-{phase}"):  # the key lets a browser test find it
        st.markdown(answer.text or "_(no answer)_")
    for source in answer.sources:
        st.caption(f":material/description: **{source.title}** · version {source.version} · score {source.score:.2f}")
    if answer.sources:
        with st.expander("Retrieved passages"):
            for source in answer.sources:
                st.markdown(f"**{source.title}** (version {source.version})")
                for sentence in source.highlights:
                    st.markdown(f":material/format_quote: _{sentence}_ (quoted in the prompt)")
                st.text(source.text)
    st.caption(timings_line(answer))
