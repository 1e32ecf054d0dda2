"""Drawing a comparison: the four columns in a two-by-two grid, each answer with its grounding, sources
and timings; after an edit, before and after side by side (one above the other in a narrow column)
with the changed words marked and the verdict on top. The Playground and the Tour both draw with these;
asking.py streams the answers into them."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from backends import Answer, Backend, KnowledgeBase, Playground, get_backend
from backends.evaluation.changes import side, word_diff
from backends.evaluation.comparison import Checked, Comparison, time_split
from backends.evaluation.grounding import WHAT_IT_CATCHES
from backends.learned import Learned


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
    served = not getattr(pg.engine, "can_contrast", True)  # a model server's: its own batching and kernels
    if contrast and served:
        retrieval += " · context-aware decoding is set, but a model server cannot do it: answered without it"
    elif contrast:
        retrieval += (" · context-aware decoding (" + ("adaptive" if contrast == "adaptive" else f"α = {contrast:g}")
                      + "): pushed toward what the passages add")
    reads_as_base = not adapter or adapter not in pg.engine.adapters
    sizes = pg.candidate_sizes(backend, None if reads_as_base else adapter, pg.settings.top_k)
    if len(sizes) > 1:
        retrieval += (f" · writes {len(sizes)} answers, from its best {_counted(sizes)} passages, "
                      "and shows the one whose figure answers the question")
    if served:
        retrieval += " · its answers can differ by a word from the in-process engine's (other kernels)"
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


def passage_markdown(text: str) -> str:
    """A passage as its document reads: headings in bold (no raw "##", no page-sized heading in a
    column), each line kept on its own line."""
    lines = [re.sub(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$", r"**\1**", line) for line in text.splitlines()]
    return "  \n".join(markdown_safe(line) for line in lines if line.strip())


def markdown_safe(text: str) -> str:
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
        claim = markdown_safe(c.claim.text)
        if c.where and c.answers is False:  # there, but in a sentence about something else
            where = "its passages" if c.where == "passages" else "the documents"
            marks.append(f":orange[:material/help: {claim}] in {where}, but not as the answer to this")
        elif c.where == "passages":
            marks.append(f":green[:material/check: {claim}] in its passages")
        elif c.where == "documents":
            elsewhere = ", not its passages" if item.answer.sources else ""
            marks.append(f":blue[:material/check: {claim}] in the documents{elsewhere}")
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
        text = markdown_safe(piece.text)
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
    # the key lets a browser test find it
    with st.container(border=True, key=f"answer-{_slug(answer.backend)}-{phase}"):
        if other is not None and other.text and answer.text:
            pair = (other.text, answer.text) if phase == "now" else (answer.text, other.text)
            st.markdown(_diffed(*pair, "after" if phase == "now" else "before"), unsafe_allow_html=True)
        else:
            st.markdown(markdown_safe(answer.text) if answer.text else "_(no answer)_")
    st.caption(grounding_line(item), help=WHAT_IT_CATCHES)
    for (title, version), scores in _by_document(answer.sources).items():
        st.caption(f":material/description: **{title}** · version {version} · score{'s' if len(scores) > 1 else ''} "
                   + ", ".join(f"{s:.2f}" for s in scores))
    if answer.sources:
        with st.expander("Retrieved passages"):
            for source in answer.sources:
                st.markdown(f"**{source.title}** (version {source.version})")
                for sentence in source.highlights:
                    st.markdown(f":material/format_quote: _{markdown_safe(sentence)}_ (quoted in the prompt)")
                st.markdown(passage_markdown(source.text))
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


def before_and_after():
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
                # coloured text on its tint, as a badge, but it wraps in a narrow column
                colour = VERDICT_COLOURS[v.kind]
                st.markdown(f":{colour}-background[:{colour}[{markdown_safe(v.line)}]]")
            note = stale_note(item.answer)  # what the adapter learned, which holds for both halves
            if note:
                st.caption(note[0], help=note[1])
            left, right = before_and_after()
            with left:
                st.markdown("**Before the edit**")
                render_answer(before, kb, "before", item.answer)
            with right:
                changed = before.answer.text != item.answer.text
                marker = "" if item.answer.error else (":orange[· changed]" if changed else ":gray[· unchanged]")
                st.markdown(f"**After: {markdown_safe(comparison.edit.title)}** {marker}")
                render_answer(item, kb, "now", before.answer)


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
    # a row that wraps, each label whole: three equal columns cut "Download Markdown" at 900 px
    with st.container(horizontal=True):
        st.download_button("Download Markdown", comparison.to_markdown(), "comparison.md", "text/markdown",
                           on_click="ignore", icon=":material/download:", key=f"md{key}")
        st.download_button("Download JSON", comparison.to_json(), "comparison.json", "application/json",
                           on_click="ignore", icon=":material/download:", key=f"json{key}")
        st.download_button("Download CSV", comparison.to_csv(), "comparison.csv", "text/csv",
                           on_click="ignore", icon=":material/download:", key=f"csv{key}")
