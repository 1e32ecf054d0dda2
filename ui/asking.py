"""Asking from a page: the question answered in a worker thread, each column's text drawn as it grows,
and kept in the session so that a run cut short (another page, a second click) follows the same
generation again; an edit asks before and after, and survives being cut short in between."""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import streamlit as st

from backends import Answer, KnowledgeBase, Playground, PolicyEdit
from backends.evaluation.comparison import Checked, Comparison, checked
from ui import answers as view
from ui.answers import Body


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
                left, right = view.before_and_after()
                with left:
                    st.markdown("**Before the edit**")
                    view.render_answer(earlier, kb, "before")
                where = right
            else:
                where = st.container()
            with where:
                st.markdown(f"**{view.markdown_safe(label)}**")
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

    def on_text(name: str, text: str) -> None:
        answering.updates.put((name, text))

    def work():
        try:
            answering.outcome["answers"] = pg.ask(question, kb, on_text=on_text)
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
            slots[name].markdown(view.markdown_safe(text) + " ▌")


def documents_of(kb: KnowledgeBase | None) -> list[tuple[str, str]]:
    return [(d.title, d.text) for d in kb.corpus.documents.values()] if kb is not None else []


ANSWERING = "Answering"  # the label of a plain question's answers while they stream


def ask(pg: Playground, kb: KnowledgeBase | None, question: str, bodies: dict) -> Comparison:
    answers = stream(pg, kb, question, bodies, ANSWERING)
    return Comparison.of(question, checked(answers, documents_of(kb), question, kb, pg.settings.top_k),
                         kb.corpus.version if kb else None)


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
            before = checked(stream(pg, kb, question, bodies, "Before the edit", phase=0), documents_of(kb),
                             question, kb, pg.settings.top_k)
        report = kb.apply_edit(edit)
        # kept at once: nothing between here and the edit draws, so no rerun can cut in before it
        st.session_state.edit_under_way = EditUnderWay(question, edit, before, kb.corpus.version)
        if on_sync:
            on_sync(report)
    after = checked(stream(pg, kb, question, bodies, f"After: {edit.title}", before), documents_of(kb),
                    question, kb, pg.settings.top_k)
    st.session_state.pop("edit_under_way", None)
    return Comparison.of(question, after, kb.corpus.version, edit, before)
