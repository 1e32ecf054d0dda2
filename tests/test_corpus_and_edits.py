import pytest

from backends import PREPARED_EDITS, Corpus, Settings, apply_edit, get_edit


@pytest.fixture
def corpus():
    return Corpus.from_folder(Settings().corpus_dir)


def test_sample_corpus_states_each_required_fact():
    text = "\n".join(Corpus.from_folder(Settings().corpus_dir).original.values())
    for fact in ["30 days of delivery", "5 business days", "final sale", "orders over $50", "3–5 business days",
                 "$12", "1–2 business days", "Canada", "1 year", "3 years", "Monday–Friday, 8am–6pm Pacific",
                 "$25 a year", "10%", "free return shipping", "14 days", "$35 a weekend", "$100 deposit"]:
        assert fact in text, fact
    for figure in ["30 days", "$50", "$25", "8am–6pm", "$35", "$100"]:
        assert text.count(figure) == 1, f"{figure} stated {text.count(figure)} times"


def test_every_prepared_edit_applies_to_the_sample_corpus(corpus):
    assert [e.name for e in PREPARED_EDITS][0] == "refund-window"
    for edit in PREPARED_EDITS:
        doc = apply_edit(corpus, edit)
        assert edit.new in doc.text and edit.old not in doc.text
        assert doc.version == 2
    assert set(corpus.changed()) == {e.doc_id for e in PREPARED_EDITS}


def test_refund_edit_changes_only_the_returns_document(corpus):
    before = {d: doc.text for d, doc in corpus.documents.items()}
    version = corpus.version
    apply_edit(corpus, get_edit("refund-window"))
    assert "within 14 days of delivery" in corpus.get("returns-and-refunds").text
    assert [d for d, doc in corpus.documents.items() if doc.text != before[d]] == ["returns-and-refunds"]
    assert corpus.version != version


def test_applying_an_edit_twice_says_it_is_already_applied(corpus):
    apply_edit(corpus, get_edit("refund-window"))
    with pytest.raises(ValueError, match="already applied"):
        apply_edit(corpus, get_edit("refund-window"))


def test_an_edit_whose_sentence_was_rewritten_by_hand_says_why(corpus):
    corpus.update("shipping", "# Shipping\n\nWe ship everywhere.")
    with pytest.raises(ValueError, match="no longer says"):
        apply_edit(corpus, get_edit("free-shipping"))


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_a_document_edited_to_empty_is_refused_and_kept(corpus, text):
    original = corpus.get("warranty")
    with pytest.raises(ValueError, match="cannot be empty"):
        corpus.update("warranty", text)
    assert corpus.get("warranty") == original


def test_reset_returns_to_the_shipped_corpus(corpus):
    shipped = corpus.version
    apply_edit(corpus, get_edit("membership-price"))
    assert corpus.reset() == ["trailhead-club"]
    assert corpus.version == shipped == corpus.original_version
    assert corpus.changed() == []


def test_unknown_edit_and_document_name_the_known_ones(corpus):
    with pytest.raises(KeyError, match="refund-window"):
        get_edit("nope")
    with pytest.raises(KeyError, match="returns-and-refunds"):
        corpus.get("nope")
