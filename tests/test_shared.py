"""One shared collection for every session, an overlay of each session's own changes, and `ingest`."""
import json
import os
import subprocess
import sys

import pytest

from backends import KnowledgeBase, get_edit, open_store
from backends.documents.embedding import Embedder
from backends.documents.index import chunk_document
from backends.documents.shared import SharedCollection, corpus_of_files, ingest
from tests import documents_for_tests as make
from tests.conftest import REFUND_QUESTION, ROOT


def shared_texts(kb, doc_id):
    """What the shared collection itself holds of a document, whatever any session did."""
    return [p["text"] for p in kb.index._points_of(doc_id, kb.index.shared.name).values()]


def test_a_new_session_indexes_nothing_and_reads_the_one_shared_collection(settings, knowledge_parts):
    first, second = (KnowledgeBase.create(settings, *knowledge_parts) for _ in range(2))
    assert first.index.shared is second.index.shared
    assert first.index.stored_documents() == set() == second.index.stored_documents()
    expected = sum(len(chunk_document(d, settings.chunk_chars)) for d in first.corpus.documents.values())
    assert first.index.count() == expected == first.index.shared.chunks
    assert first.index.retrieve(REFUND_QUESTION, 2)[0][0].doc_id == "returns-and-refunds"


def test_an_edit_moves_only_that_document_into_the_session_and_reset_moves_it_back(kb):
    kb.apply_edit(get_edit("refund-window"))
    assert kb.index.stored_documents() == {"returns-and-refunds"}
    sources, _ = kb.index.retrieve(REFUND_QUESTION, 3)
    assert [s.version for s in sources if s.doc_id == "returns-and-refunds"][0] == 2
    texts = " ".join(s.text for s in sources)
    assert "14 days" in texts and "within 30 days" not in texts  # the shared old chunk is hidden
    assert any("30 days" in t for t in shared_texts(kb, "returns-and-refunds"))  # and still there for others
    report = kb.reset()
    assert kb.index.stored_documents() == set() and report.added == 1 and report.deleted == 1
    sources, _ = kb.index.retrieve(REFUND_QUESTION, 2)
    assert sources[0].version == 3 and "30 days" in " ".join(s.text for s in sources)


def test_a_removed_sample_document_is_gone_for_this_session_only(settings, knowledge_parts):
    mine, theirs = (KnowledgeBase.create(settings, *knowledge_parts) for _ in range(2))
    count = mine.index.count()
    report = mine.remove_document("returns-and-refunds")
    assert report.deleted == len(theirs.index.points_of("returns-and-refunds")) > 0
    assert mine.index.count() == count - report.deleted and mine.index.points_of("returns-and-refunds") == []
    assert all(s.doc_id != "returns-and-refunds" for s in mine.index.retrieve(REFUND_QUESTION, 5)[0])
    assert theirs.index.retrieve(REFUND_QUESTION, 1)[0][0].doc_id == "returns-and-refunds"


def test_a_shared_collection_in_a_folder_is_found_complete_at_the_next_start(settings, knowledge_parts, tmp_path):
    from backends import Corpus
    corpus = Corpus.from_folder(settings.corpus_dir)
    store = open_store(settings.with_(qdrant_location=str(tmp_path / "qdrant")))
    model = knowledge_parts[1].model
    SharedCollection.for_corpus(corpus, store, Embedder(model, "test"), settings.chunk_chars)
    store.close()
    store = open_store(settings.with_(qdrant_location=str(tmp_path / "qdrant")))
    fresh = Embedder(model, "test")  # an empty cache: any chunk indexed again would be embedded
    again = SharedCollection.for_corpus(corpus, store, fresh, settings.chunk_chars)
    assert again.chunks > 0 and fresh._cache == {}
    store.close()


def policy_files(window: str = "45 days", with_handbook: bool = True):
    files = [("policy.pdf", make.pdf(["Oakridge Bikes returns policy",
                                      f"You may return a bike within {window} of delivery for a full refund."]))]
    if with_handbook:
        files.append(("handbook.docx", make.docx("Oakridge staff handbook", {"Leave": "Staff get 27 days of leave."})))
    return files + [("broken.pdf", b"%PDF-1.7 not really")]


def test_ingest_writes_a_collection_that_serves_sessions_with_its_files_named(settings, knowledge_parts, tmp_path):
    configured = settings.with_(qdrant_location=str(tmp_path / "qdrant"), collection="oakridge")
    store, embedder = open_store(configured), knowledge_parts[1]
    corpus, problems = corpus_of_files(policy_files(), 20_000_000)
    assert len(problems) == 1 and "broken.pdf" in problems[0]
    collection, report = ingest(corpus, store, embedder, settings.chunk_chars, "oakridge")
    assert set(collection.texts) == {"policy", "handbook"} and report.added == collection.chunks

    kb = KnowledgeBase.create(configured, store, embedder)
    assert set(kb.corpus.documents) == {"policy", "handbook"} and kb.index.stored_documents() == set()
    assert kb.corpus.get("policy").title == "policy.pdf"
    sources, _ = kb.index.retrieve("How many days do I have to return a bike?", 2)
    assert sources[0].title == "policy.pdf" and "45 days" in sources[0].text

    corpus, _ = corpus_of_files(policy_files("60 days", with_handbook=False), 20_000_000)
    collection, report = ingest(corpus, store, embedder, settings.chunk_chars, "oakridge")  # ingest again: replaces
    assert set(collection.texts) == {"policy"} and report.deleted >= 2
    texts = " ".join(p.payload["text"] for p in store.scroll("oakridge", limit=100, with_payload=True)[0])
    assert "60 days" in texts and "45 days" not in texts and "27 days" not in texts
    store.close()


def cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "backends", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PLAYGROUND_MAX_NEW_TOKENS": "24", **env})


def test_ingest_from_the_command_line_then_ask_from_that_collection(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, data in policy_files():
        (folder / name).write_bytes(data)
    where = {"PLAYGROUND_QDRANT_LOCATION": str(tmp_path / "qdrant")}
    out = cli("ingest", str(folder), "--collection", "oakridge", **where)
    assert out.returncode == 0, out.stderr
    assert ("broken.pdf" in out.stderr and "oakridge: 2 documents" in out.stdout
            and "PLAYGROUND_COLLECTION=oakridge" in out.stdout)
    out = cli("ask", "How many days do I have to return a bike?", "--backend", "RAG", "--json",
              PLAYGROUND_COLLECTION="oakridge", **where)
    assert out.returncode == 0, out.stderr
    rag = json.loads(out.stdout)["answers"][0]
    assert rag["sources"][0]["title"] == "policy.pdf" and "45 days" in rag["sources"][0]["text"]


@pytest.mark.parametrize("env, message", [({}, "PLAYGROUND_QDRANT_LOCATION"),
                                          ({"PLAYGROUND_QDRANT_LOCATION": "QDRANT"}, "no such file or folder")])
def test_ingest_refuses_an_in_memory_store_and_missing_paths(tmp_path, env, message):
    env = {k: (str(tmp_path / v) if k == "PLAYGROUND_QDRANT_LOCATION" else v) for k, v in env.items()}
    out = cli("ingest", str(tmp_path / "nothing-here"), **{"PLAYGROUND_QDRANT_LOCATION": ":memory:", **env})
    assert out.returncode == 2 and message in out.stderr


def test_a_killed_ingest_leaves_the_earlier_collection_served_whole(tmp_path):
    """The real command, killed while it embeds: the name still serves the earlier documents, all of
    them, and the next ingest clears what the killed one began."""
    import signal

    from qdrant_client import QdrantClient
    where = {"PLAYGROUND_QDRANT_LOCATION": str(tmp_path / "qdrant")}
    first, many = tmp_path / "first", tmp_path / "many"
    first.mkdir(), many.mkdir()
    for name, data in policy_files():
        (first / name).write_bytes(data)
    assert cli("ingest", str(first), "--collection", "oakridge", **where).returncode == 0
    for number in range(60):  # enough documents that the kill lands part-way
        (many / f"notes-{number}.md").write_text(f"# Notes {number}\n\n" + f"Shelf {number} holds bikes. " * 40)
    command = subprocess.Popen([sys.executable, "-m", "backends", "ingest", str(many), "--collection", "oakridge"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, **where})
    seen = ""
    while "documents indexed" not in seen:
        seen += command.stderr.read(1) or pytest.fail(f"ingest ended before it indexed anything: {seen}")
    command.send_signal(signal.SIGKILL)
    command.wait()
    store = QdrantClient(path=where["PLAYGROUND_QDRANT_LOCATION"])
    served = {p.payload["doc_id"] for p in store.scroll("oakridge", limit=1000)[0]}
    assert served == {"policy", "handbook"}
    assert len(store.get_collections().collections) == 2  # the served one and the killed one's
    store.close()
    out = cli("ingest", str(first), "--collection", "oakridge", **where)
    assert out.returncode == 0, out.stderr
    store = QdrantClient(path=where["PLAYGROUND_QDRANT_LOCATION"])
    assert len(store.get_collections().collections) == 1
    store.close()
