import pytest

from backends import IndexUnavailable, KnowledgeBase, get_edit, open_store
from backends.documents.index import chunk_document
from tests.conftest import REFUND_QUESTION


def chunks_of(kb, doc_id):
    return kb.index.points_of(doc_id)


def test_the_index_holds_every_chunk_of_every_document_once(kb, settings):
    expected = sum(len(chunk_document(doc, settings.chunk_chars)) for doc in kb.corpus.documents.values())
    assert kb.index.count() == expected
    texts = [(p["doc_id"], p["text"]) for d in kb.corpus.documents for p in chunks_of(kb, d)]
    assert len(texts) == len(set(texts)) == expected
    assert kb.index.corpus_version == kb.corpus.version


def test_the_refund_question_retrieves_the_returns_document_first(kb):
    sources, ms = kb.index.retrieve(REFUND_QUESTION, 2)
    assert sources[0].doc_id == "returns-and-refunds"
    assert sources[0].title == "Returns and refunds" and sources[0].version == 1
    assert "30 days" in " ".join(s.text for s in sources)
    assert 0 < sources[0].score <= 1 and ms > 0


def test_an_edit_replaces_the_documents_chunks_without_duplicates_or_stale_ones(kb):
    count = kb.index.count()
    report = kb.apply_edit(get_edit("refund-window"))
    assert report.documents == ("returns-and-refunds",)
    assert report.added == 1 and report.deleted == 1  # only the changed chunk is replaced
    assert report.embedded <= 1
    assert kb.index.count() == count
    chunks = chunks_of(kb, "returns-and-refunds")
    assert not any("30 days" in c["text"] for c in chunks)
    assert any("14 days" in c["text"] for c in chunks)
    assert {c["version"] for c in chunks} == {2}
    sources, _ = kb.index.retrieve(REFUND_QUESTION, 2)
    assert sources[0].version == 2 and "14 days" in " ".join(s.text for s in sources)


def test_the_same_edit_twice_leaves_the_index_as_it_was(kb):
    kb.apply_edit(get_edit("refund-window"))
    count = kb.index.count()
    with pytest.raises(ValueError):
        kb.apply_edit(get_edit("refund-window"))
    assert kb.index.count() == count


def test_reset_brings_back_the_shipped_chunks(kb):
    count = kb.index.count()
    kb.apply_edit(get_edit("free-shipping"))
    report = kb.reset()
    assert report.documents == ("shipping",)
    assert report.added == 1 and report.embedded == 0  # the shipped chunk's vector is still cached
    assert kb.index.count() == count
    assert any("$50" in c["text"] for c in chunks_of(kb, "shipping"))
    assert kb.index.corpus_version == kb.corpus.original_version


def test_a_hand_edit_that_rewrites_a_document_leaves_none_of_its_old_chunks(kb):
    kb.update_document("rentals", "# Rentals\n\nWe no longer rent tents.")
    chunks = chunks_of(kb, "rentals")
    assert [c["text"] for c in chunks] == ["# Rentals\n\nWe no longer rent tents."]


def test_a_document_edited_to_empty_changes_nothing(kb):
    count, version = kb.index.count(), kb.index.corpus_version
    with pytest.raises(ValueError, match="cannot be empty"):
        kb.update_document("warranty", "  ")
    assert kb.index.count() == count and kb.index.corpus_version == version


def test_two_sessions_each_see_their_own_corpus(settings, knowledge_parts):
    edited = KnowledgeBase.create(settings, *knowledge_parts)
    shipped = KnowledgeBase.create(settings, *knowledge_parts)
    edited.apply_edit(get_edit("refund-window"))
    assert "14 days" in " ".join(s.text for s in edited.index.retrieve(REFUND_QUESTION, 2)[0])
    assert "30 days" in " ".join(s.text for s in shipped.index.retrieve(REFUND_QUESTION, 2)[0])


def test_an_unreachable_qdrant_url_says_where_it_looked(settings):
    with pytest.raises(IndexUnavailable, match="127.0.0.1:9"):
        open_store(settings.with_(qdrant_location="http://127.0.0.1:9"))


def test_a_local_qdrant_folder_keeps_the_index(settings, knowledge_parts, tmp_path):
    from backends import Corpus
    from backends.documents.index import Index
    store = open_store(settings.with_(qdrant_location=str(tmp_path / "qdrant")))
    index = Index(store, knowledge_parts[1], settings.chunk_chars, name="kept")
    index.sync(Corpus.from_folder(settings.corpus_dir))
    assert index.count() > 0 and (tmp_path / "qdrant").is_dir()


def test_key_sentences_pick_the_sentence_that_answers(kb):
    sources, _ = kb.index.retrieve(REFUND_QUESTION, 3, key_sentences=2)
    quoted = [h for s in sources for h in s.highlights]
    assert len(quoted) == 2 and any("30 days" in h for h in quoted)
    assert all(h in s.text for s in sources for h in s.highlights)
    assert not any(h.startswith(("#", "-")) for h in quoted)
    plain, _ = kb.index.retrieve(REFUND_QUESTION, 3)
    assert all(s.highlights == () for s in plain)


def test_vectors_saved_by_one_process_spare_the_next_one_embedding(knowledge_parts, tmp_path):
    from backends.documents.embedding import Embedder
    model = knowledge_parts[1].model
    saved = tmp_path / "vectors.json"
    first = Embedder(model, "test", saved)
    vectors, fresh = first.embed(["Refunds take 5 business days.", "Tents get 3 years."])
    first.save()  # Index.sync saves once it has embedded every document
    assert fresh == 2 and saved.is_file()
    again, fresh = Embedder(model, "test", saved).embed(["Tents get 3 years.", "Refunds take 5 business days."])
    assert fresh == 0 and again == vectors[::-1]
    assert Embedder(model, "another embedder", saved).embed(["Tents get 3 years."])[1] == 1
    saved.write_text("{damaged")
    assert Embedder(model, "test", saved).embed(["Tents get 3 years."])[1] == 1


def test_building_an_index_saves_its_vectors_for_the_next_start(knowledge_parts, settings, tmp_path):
    from backends import Corpus, Index
    from backends.documents.embedding import Embedder
    store, shared = knowledge_parts
    saved = tmp_path / "vectors.json"
    Index.build(Corpus.from_folder(settings.corpus_dir), store, Embedder(shared.model, "test", saved),
                settings.chunk_chars)
    report = Index(store, Embedder(shared.model, "test", saved), settings.chunk_chars).sync(
        Corpus.from_folder(settings.corpus_dir))
    assert report.added > 0 and report.embedded == 0
