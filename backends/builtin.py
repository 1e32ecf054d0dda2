"""The four built-in columns, all on the same base model."""
from __future__ import annotations

from .answers import Source
from .registry import SYSTEM, Backend, register

GROUNDED = SYSTEM + " Answer only from the passages below. If they do not say, say you do not know."


def passages_prompt(question: str, sources: list[Source]) -> str:
    passages = "\n\n".join(f"[{i}] {s.title}\n{s.text}" for i, s in enumerate(sources, 1))
    return f"Passages:\n{passages}\n\nQuestion: {question}"


@register
class Base(Backend):
    name = "Base"
    description = "The model as it is: no documents, no adapter."


@register
class RAG(Backend):
    name = "RAG"
    description = "The base model answering from passages retrieved for the question."
    uses_retrieval = True

    def messages(self, question, sources):
        return [{"role": "system", "content": GROUNDED}, {"role": "user", "content": passages_prompt(question, sources)}]


@register
class FineTuned(Backend):
    name = "Fine-tuned"
    description = "The base model with a LoRA adapter trained on the company's answers: no retrieval."
    adapter_setting = "adapter"


@register
class Hybrid(RAG):
    name = "Hybrid"
    description = "The adapter's voice with the retrieved passages' facts."
    adapter_setting = "hybrid_adapter"
    falls_back_to_base = True
