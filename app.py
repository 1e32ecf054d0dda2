"""RAG or fine-tuning? One question, four columns. Run with `make run`."""
import streamlit as st

from backends.learned import trained_on
from ui import session

st.set_page_config(page_title="RAG or fine-tuning?", page_icon="🧭", layout="wide")

# The pages live in ui/pages/, not in a pages/ folder beside this file: Streamlit would treat such a
# folder as its older automatic navigation; st.navigation names each page, its title and icon here.
page = st.navigation([
    st.Page("ui/pages/playground.py", title="Playground", icon=":material/compare:", default=True),
    st.Page("ui/pages/tour.py", title="Guided tour", icon=":material/slideshow:"),
    st.Page("ui/pages/documents.py", title="Documents", icon=":material/description:"),
    st.Page("ui/pages/evaluation.py", title="Evaluation", icon=":material/analytics:"),
    st.Page("ui/pages/finetune.py", title="Fine-tune", icon=":material/model_training:"),
    st.Page("ui/pages/decide.py", title="Decision guide", icon=":material/rule:"),
])

# A first start shows its steps here, in the main area; later runs keep the slot, empty, so the page's
# elements keep their places (else the browser briefly shows the old columns beside the new ones).
pg = session.playground(st.empty())
session.show_toasts()
with st.sidebar:
    st.caption("**Model**: " + pg.engine.label)
    used = {pg.settings.adapter, pg.settings.hybrid_adapter}
    for name, info in session.shown_adapters(pg.engine).items():
        mark = " (in your columns)" if name in used else ""
        st.caption(f"**Adapter** {name}{mark}: trained on {trained_on(info)}",
                   help=f"It learned corpus version {info.corpus_version}.")
    for name in pg.engine.problems:
        st.caption(f"**Adapter** {name}: not installed")
    kb = session.knowledge_base()
    if kb is not None:
        st.caption(f"**Index**: {kb.index.count()} chunks of {len(kb.corpus.documents)} documents, "
                   f"corpus {kb.index.corpus_version}")

page.run()
