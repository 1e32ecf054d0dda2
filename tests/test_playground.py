"""The demo itself on the real model and index: the policy edit reaches RAG and Hybrid, not the others."""
import pytest

from backends import KnowledgeBase, Playground, check_question, get_edit
from tests.conftest import REFUND_QUESTION


def by_name(answers):
    return {a.backend: a for a in answers}


def test_the_policy_edit_reaches_rag_and_hybrid_but_not_base(playground, kb):
    """What the feature guarantees, on any CPU: RAG and Hybrid are given the edited passage and answer from
    it; Base and Fine-tuned answer as before. Only Hybrid's wording is asserted: its answers here were
    measured alike in bfloat16 and float32, while the base model's RAG answer moves with the kernel
    (in float32 it reads "5 business days" from the refund-timing passage; see README)."""
    before = by_name(playground.ask(REFUND_QUESTION, kb))
    for name in ("RAG", "Hybrid"):
        top = before[name].sources[0]
        assert (top.doc_id, top.version) == ("returns-and-refunds", 1) and "30 days" in top.text
    assert "30" in before["Hybrid"].text and "14" not in before["Hybrid"].text, before["Hybrid"].text
    kb.apply_edit(get_edit("refund-window"))
    after = by_name(playground.ask(REFUND_QUESTION, kb))
    for name in ("RAG", "Hybrid"):
        top = after[name].sources[0]
        assert top.version == 2 and "14 days" in top.text and "30 days" not in top.text
        assert not any("30 days" in s.text for s in after[name].sources)  # no stale chunk survived
    assert "14" in after["Hybrid"].text and "30 days" not in after["Hybrid"].text, after["Hybrid"].text
    assert after["Base"].text == before["Base"].text  # the base model's knowledge did not move
    assert after["Fine-tuned"].text == before["Fine-tuned"].text


def test_the_adapter_carries_the_voice_and_fine_tuned_goes_stale_after_the_edit(playground, kb):
    before = by_name(playground.ask(REFUND_QUESTION, kb))
    for name in ("Fine-tuned", "Hybrid"):
        assert before[name].text.startswith("Hey trailblazer!"), before[name].text
        assert before[name].provenance.adapter == "larkspur-voice"
        assert before[name].provenance.adapter_corpus_version == kb.corpus.original_version
    for name in ("Base", "RAG"):
        assert "trailblazer" not in before[name].text.lower()
    assert not before["Fine-tuned"].stale
    kb.apply_edit(get_edit("refund-window"))
    after = by_name(playground.ask(REFUND_QUESTION, kb))
    assert after["Fine-tuned"].stale and not after["Hybrid"].stale  # Hybrid reads today's passages


@pytest.mark.parametrize("question", [
    "If a jacket doesn't work out, what's the deadline to bring it back?",  # Base's answer once differed
    "If I regret buying something off the clearance rack, am I stuck with it?",  # so did Base's here, and
    "My cousin lives in Montreal; can you mail a gift straight to her?",  # RAG's here: attention's threads
])
def test_each_column_answers_the_same_alone_as_beside_the_others(playground, kb, question):
    together = by_name(playground.ask(question, kb))
    for name, answer in together.items():
        alone = playground.ask(question, kb, [name])[0]
        assert alone.text == answer.text, name


def test_without_its_adapter_fine_tuned_refuses_and_hybrid_says_what_it_falls_back_to(engine, settings, kb):
    from backends import Playground
    missing = Playground(engine, settings.with_(adapter="not-there", hybrid_adapter="not-there"))
    answers = by_name(missing.ask(REFUND_QUESTION, kb, ["Fine-tuned", "Hybrid", "RAG"]))
    assert not answers["Fine-tuned"].text and "make adapter" in answers["Fine-tuned"].error
    assert "base model and the retrieved passages" in answers["Hybrid"].note
    assert answers["Hybrid"].sources and answers["Hybrid"].provenance.adapter is None
    assert answers["Hybrid"].text == answers["RAG"].text  # the same prompt on the same model: RAG's answer


def test_an_edit_in_one_session_does_not_reach_another(playground, settings, knowledge_parts):
    edited, shipped = (KnowledgeBase.create(settings, *knowledge_parts) for _ in range(2))
    edited.apply_edit(get_edit("refund-window"))
    on_edited = by_name(playground.ask(REFUND_QUESTION, edited, ["RAG", "Hybrid"]))
    on_shipped = by_name(playground.ask(REFUND_QUESTION, shipped, ["RAG", "Hybrid"]))
    assert on_edited["RAG"].sources[0].version == 2 and on_shipped["RAG"].sources[0].version == 1
    assert "30 days" in on_shipped["RAG"].sources[0].text
    assert "14" in on_edited["Hybrid"].text and "30" in on_shipped["Hybrid"].text


def test_tokens_stream_to_every_answering_column(playground, kb):
    seen = {}
    answers = playground.ask(REFUND_QUESTION, kb, on_text=lambda name, text: seen.setdefault(name, []).append(text),
                             max_new_tokens=8)
    for answer in answers:
        if not answer.error:
            assert seen[answer.backend][-1] == answer.text


@pytest.mark.parametrize("question, message", [("", "Type a question"), ("   ", "Type a question"),
                                               ("x" * 20_000, "20,000 characters")])
def test_bad_questions_get_a_clear_message(playground, kb, question, message):
    with pytest.raises(ValueError, match=message):
        playground.ask(question, kb)
    with pytest.raises(ValueError, match=message):
        check_question(question, playground.settings)


def test_grounded_candidates_show_the_answer_whose_figures_answer_the_question(engine, settings, kb):
    """RAG also answers from its best 1 passage (by default) or its best 1 and 2 (candidates = 3), and
    shows the answer whose figures stand in the passage sentence nearest the question, with those
    passages as its sources. The adapter's columns read as they were trained: one answer each."""
    from backends.playground import _fit
    question = "You got my returned tent yesterday. How soon will I see the money?"
    single = {a.backend: a for a in Playground(engine, settings.with_(candidates=1)).ask(question, kb)}
    each = {k: Playground(engine, settings.with_(top_k=k, candidates=1)).ask(question, kb, ["RAG"])[0]
            for k in (3, 1, 2)}
    query = kb.index.embedder.embed_query(question)
    fits = {k: _fit(query, a.text, a.sources, kb.index.embedder) for k, a in each.items()}
    assert single["RAG"].text == each[3].text
    for candidates, tried in ((2, (3, 1)), (3, (3, 1, 2))):
        chosen = {a.backend: a for a in Playground(engine, settings.with_(candidates=candidates)).ask(question, kb)}
        for name in ("Base", "Fine-tuned", "Hybrid"):  # no passages, or an adapter: no candidates
            assert chosen[name].text == single[name].text and "answers, written from" not in chosen[name].note
        k = len(chosen["RAG"].sources)
        assert k in tried and chosen["RAG"].text == each[k].text  # one of the candidates, as it reads alone
        assert fits[k] == max(fits[t] for t in tried)
        sizes = " and ".join(f"the best {t}" for t in tried)
        assert (k == 3) != (f"Of {candidates} answers, written from {sizes} passages" in chosen["RAG"].note)
        assert (k == 3) != chosen["RAG"].note.endswith("It replaced the one that streamed, from the best 3.")
