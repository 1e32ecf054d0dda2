"""Drawing a comparison: the four columns in a two-by-two grid, each answer with its grounding, sources
and timings; after an edit, before and after side by side (one above the other in a narrow column)
with the changed words marked and the verdict on top. The Playground and the Tour both draw with these."""
from __future__ import annotations

import html
import queue
import threading
import time
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from backends import Answer, Backend, KnowledgeBase, Playground, PolicyEdit, get_backend
from backends.evaluation.changes import side, word_diff
from backends.evaluation.comparison import Checked, Comparison, checked, time_split
from backends.evaluation.grounding import WHAT_IT_CATCHES
from backends.playground import Learned


def column_caption(pg: Playground, backend: Backend) -> str:
    adapter = pg.adapter_for(backend)
    if not adapter:
        used = "no adapter"
    elif adapter in pg.engine.adapters:
        used = f"adapter **{adapter}** (learned {Learned.of(pg.engine.adapters[adapter]).words})"
    else:
        used = f"adapter **{adapter}**: not installed"
    retrieval = "retrieves passages" if backend.uses_retrieval else "no retrieval"
    contrast = pg.settings.contrast_alpha if backend.uses_retrieval else 0.0
    if contrast:
        retrieval += (" · context-aware decoding (" + ("adaptive" if contrast == "adaptive" else f"α = {contrast:g}")
                      + "): pushed toward what the passages add")
    reads_as_base = not adapter or adapter not in pg.engine.adapters
    sizes = pg.candidate_sizes(backend, None if reads_as_base else adapter, pg.settings.top_k)
    if len(sizes) > 1:
        retrieval += (f" · writes {len(sizes)} answers, from its best {_counted(sizes)} passages, "
                      "and shows the one whose figure answers the question")
    return f"{backend.description}  \n{pg.engine.label} · {used} · {retrieval}"


def adapters_switched(pg: Playground, comparison: Comparison) -> str:
    """What to say where answers on screen came from another adapter than the columns use now (one
    switched on the Fine-tune page since they were asked); "" where none did."""
    moved = {}
    for item in comparison.answers:
        a = item.answer
        if a.error or a.provenance is None:
            continue
        now = pg.adapter_for(get_backend(a.backend))
        if a.provenance.adapter and now != a.provenance.adapter:
            moved.setdefault((a.provenance.adapter, now), []).append(a.backend)
    return " ".join(f"{' and '.join(names)} answered with adapter {was}; your columns use "
                    f"{now or 'none'} now. Ask again for its answers." for (was, now), names in moved.items())


def _text(text: str) -> str:
    """Model text shown as written: no HTML, no LaTeX from a pair of dollar amounts."""
    return html.escape(text, quote=False).replace("$", "\\$")


def timings_line(answer: Answer) -> str:
    t, split = answer.timings, time_split(answer)
    parts = [f"retrieval {t.retrieval_ms:.0f} ms"] if answer.sources else []
    parts += [f"first token {t.ttft_ms / 1000:.1f} s", f"{t.new_tokens} tokens in {t.generation_ms / 1000:.1f} s"
              + (" (the length limit: cut off there)" if answer.cut_at_limit else "")]
    if split.tokens_per_s:
        parts.append(f"{_rate(split.tokens_per_s)} tokens/s")
    parts += [f"total {t.total_ms / 1000:.1f} s", f"prompt {t.prompt_tokens} tokens"]
    return ":material/timer: " + " · ".join(parts)


def _counted(sizes: list[int]) -> str:
    """[3, 1] as "3 and 1", [3, 1, 2] as "3, 1 and 2"."""
    return ", ".join(map(str, sizes[:-1])) + f" and {sizes[-1]}"


def _rate(tokens_per_s: float) -> str:
    """Whole tokens a second, a tenth where it is slow (a busy server gives 0.4, not 0)."""
    return f"{tokens_per_s:.0f}" if tokens_per_s >= 10 else f"{tokens_per_s:.1f}"


def grounding_line(item: Checked) -> str:
    if not item.claims:
        return ":gray[:material/fact_check: No figures, amounts, durations or times to check.]"
    marks = []
    for c in item.claims:
        claim = _text(c.claim.text)
        if c.where == "passages":
            marks.append(f":green[:material/check: {claim}] in its passages")
        elif c.where == "documents":
            marks.append(f":blue[:material/check: {claim}] in the documents" + (", not its passages" if item.answer.sources else ""))
        else:
            marks.append(f":orange-background[:material/warning: {claim}] not in " +
                         ("its passages or the documents" if item.answer.sources else "the documents"))
    return ":material/fact_check: " + " · ".join(marks)


def stale_note(answer: Answer) -> tuple[str, str] | None:
    """Why an answer from memory is out of date, in words, and the corpus hashes for the tooltip."""
    if not answer.stale:
        return None
    p = answer.provenance
    since = f"; {p.changed_since}" if p.changed_since else ""
    return (f":orange[:material/history: Answers from what it learned of {p.adapter_learned}{since}.]",
            f"The adapter learned corpus {p.adapter_corpus_version}; the documents are now {p.index_corpus_version}.")


def _diffed(before: str, after: str, which: str) -> str:
    marked = []
    for piece in side(word_diff(before, after), which):
        text = _text(piece.text)
        if piece.op == "removed":
            marked.append(f'<span style="background:rgba(255,75,75,.25);text-decoration:line-through">{text}</span>')
        elif piece.op == "added":
            marked.append(f'<span style="background:rgba(33,195,84,.3)">{text}</span>')
        else:
            marked.append(text)
    return "".join(marked)


def render_answer(item: Checked, kb: KnowledgeBase | None, phase: str = "now", other: Answer | None = None) -> None:
    """One answer: its text (with the words that differ from `other` marked, when given), grounding,
    sources and timings. `phase` names its box for the browser tests: now or before."""
    answer = item.answer
    if answer.error:
        st.warning(answer.error)
        return
    if answer.note:
        st.info(answer.note)
    note = stale_note(answer) if phase == "now" and other is None else None  # before and after: once, above both
    if note:
        st.caption(note[0], help=note[1])
    with st.container(border=True, key=f"answer-{_slug(answer.backend)}-{phase}"):  # the key lets a browser test find it
        if other is not None and other.text and answer.text:
            pair = (other.text, answer.text) if phase == "now" else (answer.text, other.text)
            st.markdown(_diffed(*pair, "after" if phase == "now" else "before"), unsafe_allow_html=True)
        else:
            st.markdown(_text(answer.text) if answer.text else "_(no answer)_")
    st.caption(grounding_line(item), help=WHAT_IT_CATCHES)
    for (title, version), scores in _by_document(answer.sources).items():
        st.caption(f":material/description: **{title}** · version {version} · score{'s' if len(scores) > 1 else ''} "
                   + ", ".join(f"{s:.2f}" for s in scores))
    if answer.sources:
        with st.expander("Retrieved passages"):
            for source in answer.sources:
                st.markdown(f"**{source.title}** (version {source.version})")
                for sentence in source.highlights:
                    st.markdown(f":material/format_quote: _{_text(sentence)}_ (quoted in the prompt)")
                st.text(source.text)
    st.caption(timings_line(answer))


def _by_document(sources) -> dict:
    """The passages' scores under each document they came from (three chunks of one policy: one line)."""
    grouped: dict[tuple, list[float]] = {}
    for source in sources:
        grouped.setdefault((source.title, source.version), []).append(source.score)
    return grouped


VERDICT_COLOURS = {"followed": "green", "guessed": "yellow", "stale": "orange", "both": "violet", "silent": "gray",
                   "unchanged": "gray"}


@dataclass
class Body:
    """Where one column's answers go: a slot for each streaming phase (before an edit, then the
    answers) and one for the finished answers. A streamed layout is removed when its phase ends, and
    no slot takes two layouts in one run: the browser keeps a block's children when a block of the
    same type is drawn over it, so a finished answer drawn over streamed text could keep that text
    under it."""
    phases: tuple
    finished: object


COLUMN_MIN_PX = 260  # two columns a row where each gets this much (a 1000 px window leaves ~290); else one


def grid(pg: Playground, backends: list[Backend]) -> dict[str, Body]:
    """A bordered cell per column, two by two, one above the other in a narrow window; each with its
    heading and its Body (creating a slot clears what the last run drew there)."""
    bodies = {}
    cells = st.grid(2, min_column_width=COLUMN_MIN_PX, border=True)
    for backend in backends:
        with cells.cell():
            st.subheader(backend.name)
            st.caption(column_caption(pg, backend))
            bodies[backend.name] = Body(phases=(st.empty(), st.empty()), finished=st.empty())
    return bodies


HALF_MIN_PX = 240  # before and after side by side only where each half gets this much; else one above the other


def _before_and_after():
    """Two cells for an answer before an edit and after it: side by side in a wide column, stacked in a
    narrow one (a 1000 px window with the sidebar open leaves a column about 290 px)."""
    halves = st.grid(2, min_column_width=HALF_MIN_PX)
    return halves.cell(), halves.cell()


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower())


def draw(comparison: Comparison, bodies: dict, kb: KnowledgeBase | None) -> None:
    for item in comparison.answers:
        name = item.answer.backend
        before = comparison.before_of(name)
        with bodies[name].finished.container(key=f"shown-{_slug(name)}"):
            if before is None:
                render_answer(item, kb)
                continue
            if name in comparison.verdicts:
                v = comparison.verdicts[name]
                colour = VERDICT_COLOURS[v.kind]  # coloured text on its tint, as a badge, but it wraps in a narrow column
                st.markdown(f":{colour}-background[:{colour}[{_text(v.line)}]]")
            note = stale_note(item.answer)  # what the adapter learned, which holds for both halves
            if note:
                st.caption(note[0], help=note[1])
            left, right = _before_and_after()
            with left:
                st.markdown("**Before the edit**")
                render_answer(before, kb, "before", item.answer)
            with right:
                changed = before.answer.text != item.answer.text
                marker = "" if item.answer.error else (":orange[· changed]" if changed else ":gray[· unchanged]")
                st.markdown(f"**After: {_text(comparison.edit.title)}** {marker}")
                render_answer(item, kb, "now", before.answer)


def stream(pg: Playground, kb: KnowledgeBase | None, question: str, bodies: dict[str, Body], label: str,
           keep: list[Checked] | None = None, phase: int = 1) -> list[Answer]:
    """Runs the question in a worker thread and draws each column's text as it grows, in the columns'
    slot for `phase` (0 before an edit, 1 the answers), and clears that slot when the answers are in.
    The answers in `keep` (those before an edit) stay on screen beside the new ones."""
    slots, kept = {}, {c.answer.backend: c for c in keep or []}
    for name, body in bodies.items():
        with body.phases[phase].container():
            earlier = kept.get(name)
            if earlier is not None:
                left, right = _before_and_after()
                with left:
                    st.markdown("**Before the edit**")
                    render_answer(earlier, kb, "before")
                where = right
            else:
                where = st.container()
            with where:
                st.markdown(f"**{_text(label)}**")
                slots[name] = st.empty()
    answering = unfinished_answers(kb)
    if answering is None or (answering.question, answering.settings) != (question, pg.settings):
        answering = start_answering(pg, kb, question, label)
    st.session_state.answering = answering  # a run cut short from here on finds it again
    try:
        if not answering.outcome:
            _follow(answering.updates, slots)
    finally:
        for body in bodies.values():
            body.phases[phase].empty()
    st.session_state.pop("answering", None)
    if "error" in answering.outcome:
        raise answering.outcome["error"]
    return answering.outcome["answers"]


@dataclass(frozen=True)
class Answering:
    """A question being answered for a session, kept in its state: a run cut short (another page, a
    second click) follows the same generation again instead of losing it or starting another."""
    question: str
    corpus_version: str | None
    settings: object  # the Playground's settings: another adapter chosen is another generation
    label: str        # "Answering", or a phase of an edit
    updates: queue.Queue
    outcome: dict     # "answers" or "error", set by the worker before its end mark


def start_answering(pg: Playground, kb: KnowledgeBase | None, question: str, label: str) -> Answering:
    """The question answered by a worker thread, each column's text as it grows put on the updates queue."""
    answering = Answering(question, kb.corpus.version if kb else None, pg.settings, label, queue.Queue(), {})

    def work():
        try:
            answering.outcome["answers"] = pg.ask(question, kb, on_text=lambda name, text: answering.updates.put((name, text)))
        except Exception as err:  # shown by the page, in its own thread
            answering.outcome["error"] = err
        finally:
            answering.updates.put(None)

    threading.Thread(target=work, daemon=True).start()
    return answering


def unfinished_answers(kb: KnowledgeBase | None) -> Answering | None:
    """The answers this session was waiting for when its run was cut short, on the documents as they are."""
    answering = st.session_state.get("answering")
    if answering is None or answering.corpus_version != (kb.corpus.version if kb else None):
        return None
    return answering


DRAW_EVERY_S = 0.15  # a column's text redrawn at most about seven times a second


def _follow(updates: queue.Queue, slots: dict) -> None:
    """Draws the streamed texts until the worker's end mark; what queued up meanwhile is drawn once.
    Redraws are spaced DRAW_EVERY_S apart: each costs the server a message per column, and with many
    visitors at once their redraws take time from the decoding they all wait for."""
    finished = False
    while not finished:
        time.sleep(DRAW_EVERY_S)
        latest, item = {}, updates.get()
        while True:
            if item is None:
                finished = True
                break
            latest[item[0]] = item[1]
            if updates.empty():
                break
            item = updates.get()
        for name, text in latest.items():
            slots[name].markdown(_text(text) + " ▌")


def documents_of(kb: KnowledgeBase | None) -> list[tuple[str, str]]:
    return [(d.title, d.text) for d in kb.corpus.documents.values()] if kb is not None else []


ANSWERING = "Answering"  # the label of a plain question's answers while they stream


def ask(pg: Playground, kb: KnowledgeBase | None, question: str, bodies: dict) -> Comparison:
    answers = stream(pg, kb, question, bodies, ANSWERING)
    return Comparison.of(question, checked(answers, documents_of(kb)), kb.corpus.version if kb else None)


@dataclass(frozen=True)
class EditUnderWay:
    """An edit between going into the documents and its answers after: kept in the session, so a run cut
    short there (a second click, another page) picks up from the answers before instead of losing them."""
    question: str
    edit: PolicyEdit
    before: list[Checked]
    corpus_version: str  # the documents with the edit in


def interrupted_edit(kb: KnowledgeBase | None) -> EditUnderWay | None:
    """The edit whose run was cut short after it went in, while the documents still read as it left them."""
    under_way = st.session_state.get("edit_under_way")
    if under_way is None or kb is None or under_way.corpus_version != kb.corpus.version:
        return None
    return under_way


def ask_across_edit(pg: Playground, kb: KnowledgeBase, question: str, edit: PolicyEdit, bodies: dict,
                    previous: Comparison | None, on_sync=None) -> Comparison:
    """The question before the edit (unless `previous` answered it on these documents), the edit, and
    the question again: one comparison, with the verdicts. An edit whose run was cut short after it
    went in (interrupted_edit) goes on from its answers before."""
    under_way = interrupted_edit(kb)
    if under_way is not None and (under_way.question, under_way.edit) == (question, edit):
        before = under_way.before
    else:
        if previous is not None and previous.question == question and previous.corpus_version == kb.corpus.version:
            before = previous.answers
        else:
            before = checked(stream(pg, kb, question, bodies, "Before the edit", phase=0), documents_of(kb))
        report = kb.apply_edit(edit)
        # kept at once: nothing between here and the edit draws, so no rerun can cut in before it
        st.session_state.edit_under_way = EditUnderWay(question, edit, before, kb.corpus.version)
        if on_sync:
            on_sync(report)
    after = checked(stream(pg, kb, question, bodies, f"After: {edit.title}", before), documents_of(kb))
    st.session_state.pop("edit_under_way", None)
    return Comparison.of(question, after, kb.corpus.version, edit, before)


def time_chart(comparison: Comparison) -> None:
    """Each column's time split into retrieval, reading the prompt and generating, as stacked bars."""
    rows = []
    for item in comparison.answers:
        if item.answer.error:
            continue
        split = time_split(item.answer)
        rows.append({"column": item.answer.backend, "1 retrieval": split.retrieval_ms / 1000,
                     "2 reading the prompt": split.reading_ms / 1000, "3 generating": split.generating_ms / 1000})
    if not rows:
        return
    table = pd.DataFrame(rows).set_index("column")
    st.bar_chart(table, horizontal=True, stack=True, sort=False, x_label="", y_label="seconds", height=220,
                 color=["#f0a202", "#7c9cbf", "#3d6b8f"])
    rates = [f"{i.answer.backend} {_rate(time_split(i.answer).tokens_per_s)}" for i in comparison.answers
             if not i.answer.error and time_split(i.answer).tokens_per_s]
    st.caption("The four columns run as one batch: they wait for the one retrieval together and read their prompts "
               "side by side, so retrieval's share is what RAG and Hybrid add; Base and Fine-tuned alone would skip "
               "it. Tokens a second while generating: " + ", ".join(rates) + ".")


def downloads(comparison: Comparison, key: str = "") -> None:
    md, js, cs = st.columns(3)
    md.download_button("Download Markdown", comparison.to_markdown(), "comparison.md", "text/markdown",
                       on_click="ignore", icon=":material/download:", key=f"md{key}", width="stretch")
    js.download_button("Download JSON", comparison.to_json(), "comparison.json", "application/json",
                       on_click="ignore", icon=":material/download:", key=f"json{key}", width="stretch")
    cs.download_button("Download CSV", comparison.to_csv(), "comparison.csv", "text/csv",
                       on_click="ignore", icon=":material/download:", key=f"csv{key}", width="stretch")
