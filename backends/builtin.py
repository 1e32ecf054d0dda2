"""The four built-in columns, all on the same base model.

The grounded prompt shows two worked examples, then the retrieved passages with the best one last,
nearest the question. On 16 questions about the sample corpus the 135M base model quoted the right
figure in 6 with two passages best-first and no examples, and in 9 with this prompt and three
passages; on the four edited facts it followed 3 of 4 (greedy decoding, 350-character
chunks). The examples' topics are far from the corpus so that their wording does not leak into an
answer, as an earlier parking example did ("shipping is free for the first two hours").
"""
from __future__ import annotations

from .answers import Source
from .registry import Backend, register

GROUNDED = ("You answer customer questions for Larkspur Outfitters using the documents provided. "
            "Quote the exact figures.")
EXAMPLES = (
    ("Library cards: A library card costs $8 and lets you borrow up to 6 books at a time.",
     "How many books can I borrow?", "You can borrow up to 6 books at a time."),
    ("Bus passes: A monthly bus pass costs $40 and works on every city route.",
     "How much is a monthly bus pass?", "A monthly bus pass costs $40."),
)


def grounded_question(question: str, passages: str) -> str:
    return f"Documents:\n{passages}\n\nQuestion: {question}\nAnswer with the exact figure from the documents."


def grounded_messages(question: str, sources: list[Source]) -> list[dict]:
    messages = [{"role": "system", "content": GROUNDED}]
    for passage, example_question, example_answer in EXAMPLES:
        messages += [{"role": "user", "content": grounded_question(example_question, passage)},
                     {"role": "assistant", "content": example_answer}]
    passages = "\n\n".join(f"{s.title}: {s.text}" for s in reversed(sources))  # best passage last
    return messages + [{"role": "user", "content": grounded_question(question, passages)}]


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
        return grounded_messages(question, sources)


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
