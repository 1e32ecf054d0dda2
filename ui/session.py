"""What a browser session holds, and the heavy things every session shares.

The model, the embedder and the Qdrant client load once per server (the factories in backends keep
them, behind a lock, so a first start can show its steps). Each session keeps only small things of its
own: its documents (a Corpus with its own Index collection) and its last answers.
"""
from __future__ import annotations

import time
import uuid

import streamlit as st

from backends import IndexUnavailable, KnowledgeBase, Playground, Settings, load_engine, load_knowledge_parts
from backends.loading import is_loaded, load_shared


def settings() -> Settings:
    """Read on every run (it is tiny), so the heavy objects below are keyed on what is configured now."""
    try:
        return Settings.load()
    except ValueError as err:  # a setting out of its range: the operator's to fix, said plainly
        st.error(f"The playground cannot start: {err}. See the README's Settings table.")
        st.stop()


class _StartupSteps:
    """A first start's steps in the main area: each one ticked off with its time, a bar where it can tell."""

    def __init__(self, status):
        self.status, self.step, self.bar = status, None, None
        self.started = self.step_started = time.perf_counter()

    def __call__(self, step: str, fraction: float | None = None) -> None:
        kind = step.split(" (")[0]  # "Downloading the model (5 of 93 MB)" is one step as it grows
        if kind != (self.step or "").split(" (")[0]:
            self.tick()
            self.status.update(label=step + "…")
            self.step, self.step_started, self.bar = step, time.perf_counter(), None
        if fraction is not None:
            self.bar = self.bar or self.status.progress(0.0)
            self.bar.progress(min(max(fraction, 0.0), 1.0), text=step)
            self.step = step

    def tick(self) -> None:
        if self.step:
            self.status.write(f":material/check: {self.step} · {time.perf_counter() - self.step_started:.1f} s")

    def done(self) -> None:
        self.tick()
        self.status.update(label=f"Ready: started in {time.perf_counter() - self.started:.0f} s", state="complete",
                           expanded=False)


def playground(where=None) -> Playground:
    """The model and embedder every session shares, loaded once per server. The first start shows its
    steps (download where needed, conversion, loading, adapters) where the user is looking: in `where`,
    a placeholder every run keeps, so the page below does not shift once the start is done."""
    configured = settings()
    try:
        if not is_loaded(configured):
            with (where or st).status("Starting the playground: the first start loads the model…",
                                      expanded=True) as status:
                steps = _StartupSteps(status)
                load_engine(configured, steps)
                try:
                    store, embedder = load_knowledge_parts(configured, steps)
                    load_shared(configured, store, embedder, steps)  # the documents, indexed once for every visitor
                except (IndexUnavailable, ValueError):
                    pass  # knowledge_base() says so where RAG and Hybrid are; Base and Fine-tuned still answer
                steps.done()
        engine = load_engine(configured)
        own = st.session_state.get("own_adapter")  # chosen on the Fine-tune page, for this session only
        if own in engine.adapters:
            configured = configured.with_(adapter=own, hybrid_adapter=own)
        return Playground(engine, configured)
    except ValueError as err:  # weights that cannot be had or were refused, a bad setting: say so, and stop
        st.error(f"The playground cannot start: {err}")
        st.stop()


def knowledge_parts():
    return load_knowledge_parts(settings())


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


def visitor() -> str:
    """This visitor's token, which marks the adapters they train as theirs. Once they have one, it is
    kept in the page's address (?visitor=…), so a reload, or that address later, is the same visitor."""
    if "visitor" not in st.session_state:
        st.session_state.visitor = st.query_params.get("visitor") or uuid.uuid4().hex[:16]
    return st.session_state.visitor


def my_adapters(engine) -> list[str]:
    """The adapters this visitor trained on the Fine-tune page: the only made-in-app ones they are
    shown (their names and what they learned are another visitor's business) and may use or delete."""
    from backends.training.jobs import made_in_app
    mine = made_in_app(engine, visitor())
    if any(engine.adapters[name].manifest.get("made_by") == visitor() for name in mine):
        st.query_params["visitor"] = visitor()
    return mine


def shown_adapters(engine) -> dict:
    """The loaded adapters this visitor may see: the shipped ones, and those they trained themselves."""
    from backends.training.jobs import made_in_app
    others = set(made_in_app(engine)) - set(my_adapters(engine))
    return {name: info for name, info in engine.adapters.items() if name not in others}


def time_left(seconds: float) -> str:
    """About how long a run has left, in the unit that reads: "about 40 s left", "about 3 min left"."""
    return f"about {max(seconds, 1):.0f} s left" if seconds < 90 else f"about {seconds / 60:.0f} min left"


def show_sync(report, later: bool = False) -> None:
    """The re-indexing's report as a toast: now, or (`later`) on the next run, for a page that reruns at once
    so the sidebar shows the new corpus."""
    kb = st.session_state.get("kb")
    titles = [kb.corpus.get(d).title if kb is not None and d in kb.corpus.documents else d for d in report.documents]
    chunks = "chunk" if report.added == 1 else "chunks"
    if report.added and report.added == report.deleted:
        what = f"{report.added} changed {chunks} rewritten"
    elif report.deleted:
        what = f"{report.added} {chunks} written in place of {report.deleted}"
    else:
        what = f"{report.added} {chunks} added"
    message = (f"Re-indexed {', '.join(titles) or 'nothing'} in {report.ms:.0f} ms: {what}, "
               f"{report.kept} kept as they were.")  # the CLI's `ingest` says how many were embedded afresh
    st.session_state.last_reindex_ms = report.ms  # the decision guide cites it
    if later:
        toast_later(message)
    else:
        st.toast(message)


def toast_later(message: str) -> None:
    """A toast on the next run (show_toasts), for a page that reruns at once."""
    st.session_state.setdefault("toasts", []).append(message)


def show_toasts() -> None:
    for message in st.session_state.pop("toasts", []):
        st.toast(message)


def kept(key: str, default):
    """Keeps a widget's value across pages: Streamlit forgets a widget's state when its page is not
    shown, so the value is copied to a key of the session's own and put back on return. Call before
    drawing the widget with this key."""
    mine = f"kept-{key}"
    if key in st.session_state:
        st.session_state[mine] = st.session_state[key]
    else:
        st.session_state[key] = st.session_state.get(mine, default)
    return st.session_state[key]


def remember(key: str, value) -> None:
    """Sets a kept widget's value (from a callback, before the widget is drawn)."""
    st.session_state[key] = st.session_state[f"kept-{key}"] = value


def measured_figures(pg: Playground):
    """The figures the decision guide cites, from this session (its last comparison, evaluation and
    edit) and from what the adapters recorded when trained."""
    from backends.evaluation.decision import measured_figures as gather
    from backends.training.jobs import PRESETS, TRAINER
    quick = TRAINER.estimate(PRESETS["Quick"], 32, pg.settings.cache_dir)[1]
    return gather(pg.engine.adapters, st.session_state.get("result"), st.session_state.get("evaluation"),
                  quick_training_s=quick, edit_reindex_ms=st.session_state.get("last_reindex_ms"))
