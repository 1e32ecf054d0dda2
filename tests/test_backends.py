"""Every registered backend answers in the same shape; the registry works for a user's own backend."""
import pytest

from backends import Playground, backend_names, get_backend
from tests.conftest import REFUND_QUESTION


@pytest.fixture(params=backend_names())
def backend_name(request):
    return request.param


def test_every_backend_gives_an_answer_of_the_same_shape(backend_name, playground, kb):
    answer, = playground.ask(REFUND_QUESTION, kb, [backend_name], max_new_tokens=12)
    backend = get_backend(backend_name)
    assert answer.backend == backend_name
    if answer.error:  # only an adapter that is not installed may stop a backend, and it says how to get one
        assert backend.adapter_setting and "make adapter" in answer.error and not answer.text
        return
    assert answer.text
    assert answer.provenance.model == playground.engine.label
    assert answer.provenance.index_corpus_version == kb.corpus.version
    t = answer.timings
    assert 0 < t.new_tokens <= 12 and t.prompt_tokens > 0 and 0 < t.ttft_ms <= t.total_ms
    assert not answer.cut_at_limit or t.new_tokens == 12  # stopped by the limit, not at its end: it says so
    if backend.uses_retrieval:
        assert answer.sources and answer.sources[0].doc_id == "returns-and-refunds"
        assert all(s.title and s.version >= 1 and 0 < s.score <= 1 for s in answer.sources)
        assert t.retrieval_ms > 0
    else:
        assert answer.sources == [] and t.retrieval_ms == 0


def test_a_users_own_backend_registers_and_answers(user_backend, playground, kb):
    assert "Pirate" in backend_names()
    answer, = playground.ask("Where is the treasure?", kb, ["Pirate"], max_new_tokens=4)
    assert answer.backend == "Pirate" and answer.text and answer.cut_at_limit  # a pirate says more than 4 tokens
    whole, = playground.ask("Say yes.", kb, ["Base"], max_new_tokens=200)
    assert not whole.cut_at_limit and whole.timings.new_tokens < 200  # an answer that ended is not cut


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(KeyError, match="Base, RAG, Fine-tuned, Hybrid"):
        get_backend("GPT-9")


def test_fine_tuned_refuses_and_hybrid_falls_back_without_an_adapter(fake_engine, settings, kb):
    fake_engine.problems["larkspur-voice"] = ("No adapter is installed at adapters/larkspur-voice. "
                                              "Train one with `make adapter`.")
    answers = {a.backend: a for a in Playground(fake_engine, settings).ask(REFUND_QUESTION, kb)}
    assert "No adapter is installed" in answers["Fine-tuned"].error and not answers["Fine-tuned"].text
    assert answers["Hybrid"].text and "base model and the retrieved passages" in answers["Hybrid"].note
    assert answers["Hybrid"].provenance.adapter is None
    # Base, RAG and its one-passage candidate, Hybrid and its candidate (it reads as the base model now), in one batch
    assert [p.adapter for p in fake_engine.prompts] == [None] * 5


def test_with_an_adapter_each_row_names_its_own(fake_engine, settings, kb):
    class Info:
        corpus_version = kb.corpus.version
        manifest = {"corpus_version": kb.corpus.version}
    fake_engine.adapters["larkspur-voice"] = Info()
    answers = Playground(fake_engine, settings).ask(REFUND_QUESTION, kb)
    # Base, RAG, RAG's one-passage candidate, Fine-tuned, Hybrid (an adapter's column: no candidates)
    assert [p.adapter for p in fake_engine.prompts] == [None, None, None, "larkspur-voice", "larkspur-voice"]
    assert answers[2].provenance.adapter_corpus_version == kb.corpus.version and not answers[2].provenance.stale


def test_retrieval_failure_stops_only_the_columns_that_retrieve(fake_engine, settings, kb):
    from dataclasses import replace
    # this session's only: as if the store lost it
    kb.index.shared = replace(kb.index.shared, name="no-such-collection")
    answers = {a.backend: a for a in Playground(fake_engine, settings).ask(REFUND_QUESTION, kb)}
    assert "Retrieval failed" in answers["RAG"].error and "Retrieval failed" in answers["Hybrid"].error
    assert answers["Base"].text and not answers["Base"].error


def test_the_grounded_prompt_quotes_key_sentences_when_given_them(kb):
    rag = get_backend("RAG")
    sources, _ = kb.index.retrieve(REFUND_QUESTION, 3, key_sentences=2)
    prompt = rag.messages(REFUND_QUESTION, sources)[-1]["content"]
    assert all(h in prompt for s in sources for h in s.highlights)
    assert sources[0].text not in prompt  # the quoted sentences, not whole passages
    whole = rag.messages(REFUND_QUESTION, kb.index.retrieve(REFUND_QUESTION, 3)[0])[-1]["content"]
    assert "30 days" in whole and REFUND_QUESTION in whole and len(whole) > len(prompt)
