"""RAG, fine-tuning or both, for a team's problem: the questions it must answer, and an answer whose
every reason is backed by a figure this playground measured (in this session or in the shipped
evaluation), with the anti-patterns the answers point to named."""
from __future__ import annotations

from dataclasses import dataclass, field

from .scoreboard import recorded_source, recorded_summaries

QUESTIONS = {  # field: (question, {value: label})
    "problem": ("What is missing from the model's answers?", {
        "knowledge": "Knowledge: it does not know our facts (policies, prices, products)",
        "behaviour": "Behaviour: it knows enough, but not our tone, format or way of answering",
        "both": "Both: our facts, in our voice"}),
    "changes": ("How often does the source truth change?", {
        "often": "Every day or week", "sometimes": "Every month or quarter", "rarely": "Rarely, if ever"}),
    "citations": ("Must answers show where they came from?", {
        "yes": "Yes: users or auditors must see the source", "no": "No"}),
    "can_evaluate": ("Can you score the behaviour you want (examples of good answers, a way to check them)?", {
        "yes": "Yes: we have examples and a check", "no": "Not yet"}),
    "latency": ("How much time may retrieval add to an answer?", {
        "relaxed": "A fraction of a second is fine", "tight": "Every millisecond counts"}),
}


@dataclass(frozen=True)
class Situation:
    problem: str = "knowledge"
    changes: str = "often"
    citations: str = "yes"
    can_evaluate: str = "yes"
    latency: str = "relaxed"

    def __post_init__(self):
        for name, (_, options) in QUESTIONS.items():
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}, not {getattr(self, name)!r}")


@dataclass(frozen=True)
class Figures:
    """What the playground measured, each with where it comes from; None where nothing was measured."""
    stale_after_edits: dict[str, float] = field(default_factory=dict)   # column → share of edited facts still old
    facts_right: dict[str, float] = field(default_factory=dict)         # column → share right, after the edits
    voice_rate: dict[str, float] = field(default_factory=dict)          # column → share in the trained voice
    passages_held: dict[str, float] = field(default_factory=dict)       # grounded column → share its passages held
    right_when_held: dict[str, float] = field(default_factory=dict)     # grounded column → share right of those
    evaluation_source: str = ""
    retrieval_ms: float | None = None          # this session's last question
    extra_prompt_tokens: int | None = None     # RAG's prompt over Base's, that question
    edit_reindex_ms: float | None = None       # this session's last edit, re-indexed
    quick_training_s: float | None = None
    full_training_s: float | None = None


@dataclass(frozen=True)
class Decision:
    choice: str
    headline: str
    reasons: list[str]
    anti_patterns: list[str]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _which_step(f: Figures) -> str:
    """Whether RAG's misses were retrieval's or reading's, where the evaluation measured it: the larger share
    of its answers lost is named."""
    held, read = f.passages_held.get("RAG"), f.right_when_held.get("RAG")
    if held is None or read is None:
        return ""
    lost_reading, lost_retrieval = held * (1 - read), 1 - held
    step = ("reading is what fails (a stronger reader model, not more passages)" if lost_reading >= lost_retrieval
            else "retrieval is what fails (chunking, top-k or the documents' wording first)")
    return (f" RAG's passages held the answer {_pct(held)} of the time, and it was right on {_pct(read)} of those: "
            f"{step}.")


def decide(situation: Situation, figures: Figures) -> Decision:
    s, f = situation, figures
    knowledge = s.problem in ("knowledge", "both") or s.citations == "yes"
    behaviour = s.problem in ("behaviour", "both")
    reasons, anti = [], []  # where the evaluation's figures come from is said once, under them (ui/decision.py)

    if knowledge:
        if f.stale_after_edits:
            reasons.append(
                f"Facts that change belong in documents: after the policy edits, the Fine-tuned column still gave the "
                f"old figure on {_pct(f.stale_after_edits.get('Fine-tuned'))} of the edited facts, RAG on "
                f"{_pct(f.stale_after_edits.get('RAG'))}.")
        if s.changes != "rarely":
            reindex = (f"RAG picked this session's edit up in {f.edit_reindex_ms:.0f} ms of re-indexing"
                       if f.edit_reindex_ms is not None
                       else "RAG picks an edit up as soon as the document is re-indexed")
            reasons.append(
                f"Your facts change {'every day or week' if s.changes == 'often' else 'every month or quarter'}: "
                f"{reindex}, while a fine-tuned model needs retraining for each change (a Quick adapter "
                f"{_minutes(f.quick_training_s)} here, the full recipe {_minutes(f.full_training_s)}).")
            anti.append("**Fine-tuning to keep facts current**: every change to the truth becomes a training run, "
                        "and between runs the model answers confidently from the old version.")
        if s.citations == "yes":
            reasons.append("Citations need retrieval: RAG and Hybrid answer from passages they can name (document and "
                           "version); a fine-tuned model has no passage to point to.")
        rag_right = f.facts_right.get("RAG")
        if rag_right is not None and s.problem != "behaviour":
            anti.append(f"**Fine-tuning to hide bad grounding**: here RAG got {_pct(rag_right)} of the facts right and "
                        f"Hybrid {_pct(f.facts_right.get('Hybrid'))}.{_which_step(f)} When RAG misreads its passages, "
                        "fix retrieval and reading (chunking, top-k, a stronger reader model) before tuning facts "
                        "into the weights, where the next edit makes them wrong.")
    if behaviour:
        if f.voice_rate:
            reasons.append(
                f"Behaviour is what tuning changes: the Fine-tuned and Hybrid columns answered in the trained voice on "
                f"{_pct(f.voice_rate.get('Fine-tuned'))} and {_pct(f.voice_rate.get('Hybrid'))} of held-out "
                f"questions, RAG on {_pct(f.voice_rate.get('RAG'))}.")
        anti.append("**RAG to fix a behaviour problem**: passages change what the model knows, not how it speaks"
                    + (f" (RAG's voice rate: {_pct(f.voice_rate.get('RAG'))})." if f.voice_rate else "."))
        if s.can_evaluate == "no":
            anti.append("**Tuning what you cannot measure**: without examples of good answers and a check, you cannot "
                        "tell a better adapter from a worse one. Write the behaviour into the prompt first and "
                        "collect examples; the Fine-tune page scores an adapter on the pairs it held out.")
        else:
            reasons.append(f"You can score the behaviour, so a tuning run is worth its cost: a Quick adapter took "
                           f"{_minutes(f.quick_training_s)} on this machine and is scored on held-out pairs when it "
                           "finishes.")
    if knowledge and s.latency == "tight":
        cost = (f"retrieval took {f.retrieval_ms:.0f} ms" if f.retrieval_ms is not None else "retrieval adds a step")
        tokens = (f" and made the prompt {f.extra_prompt_tokens} tokens longer, which the model must read before its "
                  "first word" if f.extra_prompt_tokens else "")
        reasons.append(f"Latency: on this session's last question {cost}{tokens}. Fewer, shorter passages cut it.")

    tune = behaviour and s.can_evaluate == "yes"
    if knowledge and tune:
        choice, headline = "Both (Hybrid)", "Retrieval for the facts, an adapter for the voice."
    elif knowledge and behaviour:
        choice, headline = ("RAG now, fine-tuning later",
                            "Retrieval for the facts now; tune the behaviour once you can measure it.")
    elif knowledge:
        choice, headline = "RAG", "The facts stay fresh and every answer can cite them."
    elif tune:
        choice, headline = "Fine-tuning", "The behaviour is learned, and no retrieval step is added."
    else:
        choice, headline = "Not fine-tuning yet", "Prompt for the behaviour and collect examples before you tune."
    return Decision(choice, headline, reasons, anti)


def measured_figures(adapters: dict, comparison=None, evaluation: dict | None = None,
                     quick_training_s: float | None = None, edit_reindex_ms: float | None = None) -> Figures:
    """The figures the guide cites: the session's own evaluation where it ran one, else the one recorded
    with the shipped adapter (make adapter, or eval --record); the session's last comparison for retrieval's cost; the
    adapters' manifests for training time."""
    source, summary = "", []
    if evaluation and evaluation.get("summary"):
        source, summary = "this session's evaluation", evaluation["summary"]
    else:
        for name, info, recorded in recorded_summaries(adapters)[:1]:
            source, summary = f"the evaluation {recorded_source(name, info)}", recorded
    after = [r for r in summary if r["phase"] == "after"]
    full = next((info.manifest.get("training_seconds") for info in adapters.values()
                 if info.manifest.get("preset", "Full") == "Full" and info.manifest.get("training_seconds")), None)
    quick = next((info.manifest.get("training_seconds") for info in adapters.values()
                  if info.manifest.get("preset") == "Quick" and info.manifest.get("training_seconds")),
                 quick_training_s)
    retrieval_ms = extra = None
    if comparison is not None:
        answers = {c.answer.backend: c.answer for c in comparison.answers}
        rag, base = answers.get("RAG"), answers.get("Base")
        if rag is not None and not rag.error:
            retrieval_ms = rag.timings.retrieval_ms
            if base is not None and not base.error:
                extra = rag.timings.prompt_tokens - base.timings.prompt_tokens
    return Figures(
        stale_after_edits={r["backend"]: r["stale_rate"] for r in after if r.get("stale_rate") is not None},
        facts_right={r["backend"]: r["fact_accuracy"] for r in after if r.get("fact_accuracy") is not None},
        voice_rate={r["backend"]: r["style_rate"] for r in summary if r["phase"] in ("before", "now")
                    and r.get("style_rate") is not None},
        passages_held={r["backend"]: r["found_rate"] for r in after if r.get("found_rate") is not None},
        right_when_held={r["backend"]: r["right_when_found"] for r in after if r.get("right_when_found") is not None},
        evaluation_source=source, retrieval_ms=retrieval_ms, extra_prompt_tokens=extra,
        edit_reindex_ms=edit_reindex_ms, quick_training_s=quick, full_training_s=full)
