"""The guided tour's story: its steps, and the narration read off the real answers (what each column
said, whether it is grounded, who followed the edit), so the words always match the screen."""
from __future__ import annotations

from dataclasses import dataclass

from .comparison import Comparison
from .scoreboard import LARKSPUR

TOUR_QUESTION = "How long do I have to return something?"
TOUR_EDIT = "refund-window"


@dataclass(frozen=True)
class Step:
    title: str
    narration: str


STEPS = (
    Step("Ask one question four ways",
         "A customer asks the shop's assistant a question. The same small language model (SmolLM2, 135 million "
         "parameters, on this machine's CPU) answers it four ways at once: as it is (**Base**), reading passages "
         "retrieved from the shop's policy documents (**RAG**), with a LoRA adapter fine-tuned on the shop's "
         "answers (**Fine-tuned**), and with both (**Hybrid**). Press the button and watch the four answers arrive."),
    Step("What each column is",
         "Each column is one way to give a model what it lacks. RAG adds knowledge at answer time: it retrieves "
         "passages and cites them. Fine-tuning changes the model's weights: it answers from memory, in the voice "
         "it was trained to use, with no retrieval step. Under each answer, every figure it states is checked "
         "against its passages and the documents: a fluent answer is not the same as a grounded one."),
    Step("Change the policy",
         "Now the business changes its mind: the refund window shrinks from 30 to 14 days. One sentence of one "
         "document is edited and only its chunk is re-embedded. Nobody retrains anything. Press the button to "
         "apply the edit and ask the same question again."),
    Step("Who followed, who stayed stale",
         "Each column shows its answer before and after the edit, the changed words marked. Columns that read the "
         "documents at answer time follow the edit at once. The fine-tuned model still answers from what it "
         "learned: its knowledge is frozen at training time, and it says the old figure just as confidently."),
    Step("The scoreboard",
         "One question is an anecdote. This is every column on 32 held-out questions, before and after four "
         "policy edits: facts right, answers in the brand voice, and answers that stayed stale."),
    Step("The decision",
         "So: RAG, fine-tuning, or both? For a shop assistant whose policies change and whose answers must "
         "sound like the brand, the measurements point to both. The Decision guide asks about your problem "
         "and answers for it, with the same figures."),
)


def _list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


KIND_WORDS = {"percent": "percentage", "time": "time of day", "measure": "distance"}  # the rest read as named


def describe_answers(comparison: Comparison) -> list[str]:
    """A sentence a column: the figures it gave and where they are backed, what it cites, its voice."""
    lines = []
    for item in comparison.answers:
        a = item.answer
        if a.error:
            lines.append(f"**{a.backend}** could not answer: {a.error}")
            continue
        found = [c for c in item.claims if c.where and c.answers is not False]
        aside = [c.claim.text for c in item.claims if c.answers is False]
        missing = [c.claim.text for c in item.unsupported]
        if not item.claims:
            said = "gives no figure"
        else:
            said = "gives " + _list([c.claim.text for c in item.claims])
            if found and not missing:
                said += (", found in its passages" if all(c.where == "passages" for c in found)
                         else ", which the documents hold")
            if aside:
                said += (f"; {_list(aside)} {'is' if len(aside) == 1 else 'are'} in the documents, but not as the "
                         "answer to this")
            if missing:
                said += f"; {_list(missing)} {'is' if len(missing) == 1 else 'are'} in no document: a fluent guess"
            kinds = [c.claim.kind for c in item.claims]
            several = next((k for k in dict.fromkeys(kinds) if kinds.count(k) > 1), None)
            if several and not aside:  # "5 business days and 30 days", both answering: at most one does
                said += (f" (more than one {KIND_WORDS.get(several, several)}: the grounding check cannot tell "
                         "which one answers the question)")
        cites = (("citing " + _list(list(dict.fromkeys(s.title for s in a.sources)))) if a.sources
                 else "from memory alone")
        voice = "in the brand voice" if LARKSPUR.speaks(a.text) else "in the base model's plain voice"
        lines.append(f"**{a.backend}** {said}, {cites}, {voice}.")
    return lines


def describe_verdicts(comparison: Comparison) -> str:
    """Who followed the edit and who did not, from the verdicts, in one paragraph."""
    groups: dict[str, list[str]] = {}
    for name, verdict in comparison.verdicts.items():
        groups.setdefault(verdict.kind, []).append(name)
    parts = []
    if groups.get("followed"):
        parts.append(f"{_list(groups['followed'])} followed the edit")
    for name in groups.get("stale", []):
        parts.append(f"{name} {comparison.verdicts[name].line}")
    for kind in ("guessed", "both", "silent", "unchanged"):
        for name in groups.get(kind, []):
            parts.append(f"{name} {comparison.verdicts[name].line}")
    return ("; ".join(parts) + ".") if parts else "No column answered both times."


# Why a column scores as it does on the shipped questions: what it has that the others lack.
WHY = {
    "Base": "it has no documents and no adapter, so its figures are guesses",
    "RAG": "it reads the passages retrieved for each question, so it follows every edit, but a 135M model "
           "reads some of them wrong",
    "Fine-tuned": "its adapter memorised the very facts these questions ask, from the shop's own answers",
    "Hybrid": "its adapter learned these documents and how to read them, and the passages give it today's figures",
}


def read_scoreboard(summary: list[dict]) -> str:
    """The scoreboard in words, from its own numbers: who leads on facts before the edits and why, and
    what the edits did to each column."""
    def rate(phase: str, backend: str, key: str = "fact_accuracy"):
        row = next((r for r in summary if r["phase"] == phase and r["backend"] == backend), None)
        return None if row is None or row.get(key) is None else row[key]

    def pct(value: float) -> str:
        return f"{value:.0%}"

    before = {b: rate("before", b) for b in WHY if rate("before", b) is not None}
    if not before:
        return ""
    top = max(before.values())
    leads = [b for b in before if before[b] == top]  # a tie is said as one, not settled by the columns' order
    if len(leads) == 1:
        said = [f"Before the edits **{leads[0]}** leads on facts ({pct(top)}): {WHY[leads[0]]}."]
    else:
        said = [f"Before the edits {_list([f'**{b}**' for b in leads])} lead together on facts ({pct(top)}): "
                + "; ".join(f"{b}: {WHY[b]}" for b in leads) + "."]
    for other in ("RAG", "Fine-tuned"):
        if other not in leads and other in before:
            said.append(f"{other} gets {pct(before[other])}: {WHY[other]}.")
    stale = {b: rate("after", b, "stale_rate") for b in WHY if rate("after", b, "stale_rate") is not None}
    if stale:
        frozen = max(stale, key=stale.get)
        if stale[frozen] > 0:
            fresh = [b for b, v in stale.items() if v < stale[frozen] and b != "Base"]
            said.append(f"After the four edits, {frozen} still gives the old figure in {pct(stale[frozen])} of the "
                        f"edited questions: what it learned is frozen at training time"
                        + (f", while {_list(fresh)} read the edited documents." if fresh else "."))
    return " ".join(said)
