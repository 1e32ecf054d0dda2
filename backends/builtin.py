"""The four built-in columns, all on the same base model.

The grounded prompt (RAG and Hybrid) gives the retrieved passages, best one last (nearest the
question), under a plain instruction; with `key_sentences` set it quotes only the passages' sentences
nearest the question (index.Index.retrieve's highlights). Measured on 32 training questions kept as
a development set (never on the held-out ones), greedy decoding, right figures before / after the
edits:

    prompt                                        tokens   RAG      Hybrid (adapter)
    two worked examples + three passages             384   9 / 9    23
    three passages, no examples (the default)        252   10 / 12  25
    two key sentences, no examples                   106   13 / 11  —
    three key sentences, no examples                 127   14 / 11  20

Worked examples did not help, and a passage-sized example once leaked its wording into an answer.
Key sentences help the base model a little but hold the answer less often than whole passages
(MiniLM picks the wrong sentence), which costs Hybrid more than it gains RAG: off by default.
Context-aware decoding (twin_messages, settings.contrast), fewer passages and passages without
Markdown were measured the same way, then on the held-out set: see docs/rag-reading.md.
"""
from __future__ import annotations

from .answers import Source
from .documents.corpus import shipped_sample, without_file
from .registry import NEUTRAL_SYSTEM, SYSTEM, Backend, register

GROUNDED = ("You answer customer questions for Larkspur Outfitters using the documents provided. "
            "Quote the exact figures.")


def grounded_question(question: str, passages: str) -> str:
    return f"Documents:\n{passages}\n\nQuestion: {question}\nAnswer with the exact figure from the documents."


def grounded_passages(sources: list[Source]) -> str:
    """What the grounded prompt quotes: the key sentences where retrieval chose them, else whole passages."""
    quoted = any(s.highlights for s in sources)
    lines = [f"{without_file(s.title)}: {text}" for s in reversed(sources)  # best passage last, nearest the question
             for text in (s.highlights if quoted else (s.text,))]
    return "\n".join(lines) if quoted else "\n\n".join(lines)


NEUTRAL = "You answer customer questions using the documents provided. Quote the exact figures."


def grounded_system(sources: list[Source]) -> str:
    """Larkspur's instruction over Larkspur's documents; over anyone else's the same without its name,
    so a user's documents are never read as Larkspur's. Passages of the sample keep the prompt the
    shipped adapter learned and every figure in the README was measured with."""
    return GROUNDED if not sources or any(s.doc_id in shipped_sample().documents for s in sources) else NEUTRAL


def memory_system(corpus) -> str:
    """The instruction of a prompt without passages (Base, Fine-tuned) for a session's documents:
    Larkspur's over the sample alone; with any document of the user's own, the same without its name.
    Training reads it from the documents it trains on, so an adapter learns the prompt it is asked with."""
    return NEUTRAL_SYSTEM if any(corpus.file_of(d) for d in corpus.documents) else SYSTEM


def grounded_messages(question: str, sources: list[Source], system: str | None = None) -> list[dict]:
    return [{"role": "system", "content": system or grounded_system(sources)},
            {"role": "user", "content": grounded_question(question, grounded_passages(sources))}]


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

    def twin_messages(self, question, sources=()):
        # the same prompt, the passages taken out
        return grounded_messages(question, [], grounded_system(list(sources)))


@register
class FineTuned(Backend):
    name = "Fine-tuned"
    description = "The base model with a LoRA adapter trained on answers in a voice: no retrieval."
    adapter_setting = "adapter"


@register
class Hybrid(RAG):
    name = "Hybrid"
    description = "The adapter's voice with the retrieved passages' facts."
    adapter_setting = "hybrid_adapter"
    falls_back_to_base = True
