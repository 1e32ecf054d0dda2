"""Prepared policy edits: named changes a user picks from a list to watch RAG follow and fine-tuning not."""
from __future__ import annotations

from dataclasses import dataclass

from .corpus import Corpus, Document


@dataclass(frozen=True)
class PolicyEdit:
    name: str
    title: str
    description: str
    doc_id: str
    old: str
    new: str
    question: str = ""  # a question the edit touches, offered with it (one click to ask it)


PREPARED_EDITS = (
    PolicyEdit("refund-window", "Refund window: 30 → 14 days",
               "Shortens the return window in Returns and refunds from 30 to 14 days.", "returns-and-refunds",
               "You can return unused items with their tags attached within 30 days of delivery for a full refund.",
               "You can return unused items with their tags attached within 14 days of delivery for a full refund.",
               "How long do I have to return something?"),
    PolicyEdit("free-shipping", "Free shipping threshold: $50 → $75",
               "Raises the order total for free standard shipping from $50 to $75.", "shipping",
               "Standard shipping is free on orders over $50.",
               "Standard shipping is free on orders over $75.",
               "How much do I have to spend to get free shipping?"),
    PolicyEdit("support-hours", "Support: 24/7 live chat",
               "Support moves from weekday office hours to 24/7 live chat.", "customer-support",
               "Our support team is available Monday–Friday, 8am–6pm Pacific by phone, chat and email.",
               "Our support team is available 24/7 by live chat, and by phone and email.",
               "When can I reach customer support?"),
    PolicyEdit("membership-price", "Trailhead Club: $25 → $30 a year",
               "Raises the Trailhead Club membership fee from $25 to $30 a year.", "trailhead-club",
               "Trailhead Club membership costs $25 a year.",
               "Trailhead Club membership costs $30 a year.",
               "How much does the Trailhead Club membership cost?"),
)


def get_edit(name: str) -> PolicyEdit:
    for edit in PREPARED_EDITS:
        if edit.name == name:
            return edit
    raise KeyError(f"No prepared edit {name!r}; known: {', '.join(e.name for e in PREPARED_EDITS)}")


def custom_edit(corpus: Corpus, doc_id: str, find: str, put: str) -> PolicyEdit:
    """A user's own edit of any document: every occurrence of `find` becomes `put`. Raises ValueError,
    changing nothing, when `find` is empty or not in the document."""
    doc = corpus.get(doc_id)
    if not find.strip():
        raise ValueError("Type the text to find first.")
    if find not in doc.text:
        raise ValueError(f"“{find}” is not in {doc.title}; nothing was changed.")
    if find == put:
        raise ValueError("The new text is the same as the text to find; nothing was changed.")
    times = doc.text.count(find)
    return PolicyEdit("custom", f"{doc.title}: “{find}” → “{put}”",
                      f"Replaces “{find}” with “{put}” in {doc.title} ({times} place{'s' if times > 1 else ''}).",
                      doc_id, find, put, f"What does {doc.title} say about {find.strip()}?")


def check_edit(corpus: Corpus, edit: PolicyEdit) -> Document:
    """Raises ValueError, saying why, when the edit is already in or cannot apply; else gives the document."""
    if edit.doc_id not in corpus.documents:
        raise ValueError(f"“{edit.title}” edits a sample document this session has set aside; bring the sample "
                         "back on the Documents page.")
    doc = corpus.get(edit.doc_id)
    if edit.new in doc.text and edit.old not in doc.text:
        raise ValueError(f"“{edit.title}” is already applied.")
    if edit.old not in doc.text:
        raise ValueError(f"“{edit.title}” cannot apply: {doc.title} no longer says “{edit.old}”. "
                         "Reset the corpus first.")
    return doc


def apply_edit(corpus: Corpus, edit: PolicyEdit) -> Document:
    doc = check_edit(corpus, edit)
    return corpus.update(edit.doc_id, doc.text.replace(edit.old, edit.new))
