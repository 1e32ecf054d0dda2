"""Bad input a careless user or operator gives: each a clear message or the right behaviour, nothing lost."""
import json
import os
import subprocess
import sys

import pytest

from backends import Corpus, KnowledgeBase, Settings, check_question, get_edit, open_store
from backends.documents.index import IndexUnavailable
from tests.conftest import REFUND_QUESTION, ROOT, make_adapter


def cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "backends", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_a_question_that_is_not_valid_text_is_refused_before_anything_loads():
    out = subprocess.run([sys.executable, "-m", "backends", "ask", b"refund \xff\xfe window?"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not valid text" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("question", ["\u200b\u200b\u200b", " \ufeff \u2060 ", "\u202e\u202e", "\u202a\u200b\u2069"])
def test_a_question_of_invisible_characters_is_empty(question, settings):
    with pytest.raises(ValueError, match="Type a question first"):
        check_question(question, settings)


def test_training_pairs_of_invisible_characters_are_named():
    from backends.training.pairs import check_pairs
    rows = [(f"row {i}", {"question": f"Question {i}?", "answer": f"Answer {i}."}) for i in range(1, 10)]
    rows.append(("row 10", {"question": "\u202e\u202e", "answer": "Thirty days."}))
    with pytest.raises(ValueError, match="row 10: question must be a non-empty string"):
        check_pairs("pairs.csv", rows)


@pytest.mark.parametrize("name, value, message", [
    ("THREADS", "-1", "threads must be a whole number from 0"),
    ("CHUNK_CHARS", "0", "chunk_chars must be a whole number from 100"),
    ("MAX_NEW_TOKENS", "-3", "max_new_tokens must be a whole number from 1"),
    ("MAX_NEW_TOKENS", "100000", "max_new_tokens must be a whole number from 1 to 1,024"),
    ("TOP_K", "0", "top_k must be a whole number from 1"),
    ("TOP_K", "1000", "top_k must be a whole number from 1 to 10"),
    ("QDRANT_LOCATION", "localhost:6333", "write http://localhost:6333"),
    ("CONTRAST", "lots", "contrast must be a number from 0 to 5 or adaptive"),
    ("DECODING", "fast", "decoding must be full or 4bit"),
    ("MODEL", "/nowhere/smollm", "model: /nowhere/smollm does not exist"),
    ("EMBEDDER", "./no-such-embedder", "embedder: ./no-such-embedder does not exist"),
    ("CORPUS_DIR", "/nowhere/docs", "The documents folder /nowhere/docs does not exist"),
])
def test_a_setting_out_of_its_range_exits_with_one_line(name, value, message):
    out = cli("ask", REFUND_QUESTION, **{f"PLAYGROUND_{name}": value})
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("line, message", [
    ("top_k = [1, 2]", "top_k must be a whole number, got [1, 2]"),
    ("top_k = 3.9", "top_k must be a whole number, got 3.9"),
    ("max_new_tokens = true", "max_new_tokens must be a whole number, got True"),
    ('adapter = ["larkspur-voice"]', "adapter must be text, got ['larkspur-voice']"),
])
def test_a_wrong_typed_setting_in_the_secrets_file_is_one_line(tmp_path, line, message):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f"[playground]\n{line}\n")
    with pytest.raises(ValueError) as refused:
        Settings.load(secrets, env={})
    assert message in str(refused.value)


@pytest.mark.parametrize("location", ["HTTP://localhost:6333", "http:/localhost:6333", "ftp://example.org/qdrant",
                                      "localhost"])
def test_a_mistyped_qdrant_location_is_refused_not_made_a_folder(location, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="qdrant_location"):
        Settings(qdrant_location=location)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [(["--steps", "0"], "--steps must be a whole number of at least 1, got 0"),
                                           (["--steps", "-5"], "--steps must be a whole number of at least 1, got -5"),
                                           (["--epochs", "0"], "epochs must be at least 1, not 0")])
def test_training_for_no_steps_is_refused_in_one_line(args, message, tmp_path):
    out = cli("train", *args, "--out", str(tmp_path / "mine"))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "mine").exists()


def test_settings_that_would_overflow_the_context_are_refused():
    with pytest.raises(ValueError, match="would not fit the model's context"):
        Settings(top_k=10, chunk_chars=4000)


def test_an_unreachable_qdrant_server_exits_with_one_line():
    out = cli("ask", REFUND_QUESTION, "--backend", "RAG", PLAYGROUND_QDRANT_LOCATION="http://127.0.0.1:9",
              PLAYGROUND_MAX_NEW_TOKENS="4")
    assert out.returncode == 2 and "Cannot use Qdrant at http://127.0.0.1:9" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_corpus_folder_reads_only_its_own_files_within_the_limits(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.md").write_text("# Policy\n\nReturns within 30 days.")
    (folder / "passwords.md").symlink_to("/etc/passwd")
    assert list(Corpus.from_folder(folder).documents) == ["policy"]
    (folder / "huge.md").write_text("# Huge\n\n" + "Lorem ipsum dolor. " * 40_000)
    with pytest.raises(ValueError, match="huge.md holds 760,008 characters, over the 500,000"):
        Corpus.from_folder(folder)


def test_a_document_edited_to_invisible_characters_is_refused(kb):
    with pytest.raises(ValueError, match="cannot be empty"):
        kb.update_document("warranty", "\u200b\u200b \u200b")
    assert kb.corpus.get("warranty").version == 1


def test_when_the_index_fails_during_an_edit_the_document_keeps_its_old_text(settings, knowledge_parts, tmp_path):
    store = open_store(settings.with_(qdrant_location=str(tmp_path / "qdrant")))
    kb = KnowledgeBase.create(settings, store, knowledge_parts[1], corpus=Corpus.from_folder(settings.corpus_dir))
    before = kb.corpus.get("returns-and-refunds")
    store.close()  # the store goes away under the session
    with pytest.raises(IndexUnavailable):
        kb.apply_edit(get_edit("refund-window"))
    assert kb.corpus.get("returns-and-refunds") == before and "30 days" in kb.corpus.get("returns-and-refunds").text


def test_an_adapter_with_weights_that_are_not_numbers_is_refused(engine, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file
    folder = make_adapter(tmp_path / "nan", engine.source.fingerprint)
    weights = load_file(folder / "adapter_model.safetensors")
    first = next(iter(weights))
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, folder / "adapter_model.safetensors")
    engine.attach("nan", folder)
    assert "nan" not in engine.adapters and "not finite" in engine.problems["nan"]


def test_an_empty_adapter_config_breaks_only_that_adapter(engine, tmp_path):
    folder = make_adapter(tmp_path / "empty-config", engine.source.fingerprint)
    (folder / "adapter_config.json").write_text(json.dumps({}))
    engine.attach("empty-config", folder)
    assert "empty-config" not in engine.adapters and "not a LoRA adapter" in engine.problems["empty-config"]
    assert "larkspur-voice" in engine.adapters  # the engine and its other adapters keep working


def test_a_truncated_cached_model_is_found_out_and_rebuilt_not_failed_on(tmp_path):
    import torch
    from safetensors.torch import save_file

    from backends.model.weights import CACHE_FORMAT, ModelSource, cache_name, cached_copy
    source = ModelSource("somewhere", "a model", "gguf:0123456789abcdef", "model.gguf")
    folder = tmp_path / cache_name(source.fingerprint)
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"format": CACHE_FORMAT, "fingerprint": source.fingerprint}))
    save_file({"w": torch.ones(64, 64)}, folder / "model.safetensors")
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}')
    assert cached_copy(source, tmp_path) == folder  # whole: used
    (folder / "tokenizer.json").write_text('{"version": "1.0", "mod')  # cut short by a kill
    assert cached_copy(source, tmp_path) is None and not folder.exists()  # rebuilt like the weights
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"format": CACHE_FORMAT, "fingerprint": source.fingerprint}))
    save_file({"w": torch.ones(64, 64)}, folder / "model.safetensors")
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}')
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])  # a disk that filled up mid-write
    assert cached_copy(source, tmp_path) is None and not folder.exists()  # so the next start converts afresh
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"format": CACHE_FORMAT, "fingerprint": source.fingerprint}))
    (folder / "model.safetensors").write_bytes(b"\xff" * 21 + data[21:])  # its header's length damaged: exabytes
    assert cached_copy(source, tmp_path) is None and not folder.exists()  # refused, not read into memory


def test_an_adapter_of_another_shape_is_refused_in_a_line_or_two(engine, tmp_path):
    folder = make_adapter(tmp_path / "other-rank", engine.source.fingerprint)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": config["r"] // 2}))
    engine.attach("other-rank", folder)
    problem = engine.problems["other-rank"]
    assert "other-rank" not in engine.adapters and "size mismatch" in problem and "more lines" in problem
    assert len(problem) < 800 and "\n" not in problem  # PEFT's refusal lists every tensor: 420 lines
    assert "other-rank" not in engine.model.peft_config and "larkspur-voice" in engine.adapters


def test_training_never_replaces_the_shipped_adapter_or_a_folder_of_other_files(tmp_path, settings):
    from backends.training import train_adapter
    from backends.training.recipe import SHIPPED
    pairs = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(8)]
    with pytest.raises(ValueError, match="is the shipped adapter"):
        train_adapter(settings, ROOT / "adapters" / SHIPPED[0], pairs=pairs)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files that are not an adapter"):
        train_adapter(settings, mine, pairs=pairs)
    assert (mine / "keep.txt").read_text() == "mine"
    out = cli("train", "--data", str(ROOT / "training_data" / "voice_train.jsonl"),
              "--out", str(ROOT / "adapters" / SHIPPED[0]))
    assert out.returncode == 2 and "is the shipped adapter" in out.stderr and "Traceback" not in out.stderr


def test_an_abandoned_cache_write_is_cleared_at_the_next_start(tmp_path):
    from backends.model.weights import clear_abandoned_writes
    old, current = tmp_path / ".writing-old", tmp_path / ".writing-now"
    for folder in (old, current):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"\0" * 1000)
    os.utime(old, (0, 0))
    clear_abandoned_writes(tmp_path, ".writing-*")  # as the model loader calls it
    assert not old.exists() and current.exists()  # a write still under way is left alone


def test_session_collections_left_in_a_qdrant_folder_by_a_killed_process_are_dropped(settings, tmp_path):
    from qdrant_client import models
    where = settings.with_(qdrant_location=str(tmp_path / "qdrant"))
    store = open_store(where)
    for name in ("playground-0123456789ab", "handbook"):
        store.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    store.close()  # as if killed: nothing dropped its session collection
    store = open_store(where)
    assert [c.name for c in store.get_collections().collections] == ["handbook"]  # an ingested one is kept
    store.close()


def test_a_server_that_is_not_qdrant_is_said_in_one_line(settings):
    import http.server
    import threading

    class NotQdrant(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>\n<body>\n<h1>404 Not Found</h1>\n<hr>\n<center>nginx</center>\n</body>\n</html>\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotQdrant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(IndexUnavailable) as refused:
            open_store(settings.with_(qdrant_location=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
    said = str(refused.value)
    assert said.startswith("Cannot use Qdrant at http://127.0.0.1") and "\n" not in said, said


def test_a_vectors_file_write_abandoned_by_a_kill_is_cleared_at_the_next_start(tmp_path):
    from backends.documents.embedding import Embedder

    class Model:
        def get_embedding_dimension(self):
            return 3
    saved = tmp_path / "vectors-abc.json"
    abandoned, under_way = tmp_path / "vectors-abc.1a2b3c4d.tmp", tmp_path / "vectors-abc.5e6f7a8b.tmp"
    for tmp in (abandoned, under_way):
        tmp.write_text("{")
    os.utime(abandoned, (0, 0))  # written long ago: its process is gone
    Embedder(Model(), "test", saved)
    assert not abandoned.exists() and under_way.exists()  # another process's write in progress is left alone


def test_a_cache_folder_that_cannot_be_made_costs_speed_not_the_answer(tmp_path):
    """A file where the cache folder should be: the model is converted in memory and the question answered."""
    (tmp_path / "a-file").write_text("not a folder")
    out = cli("ask", "How long do I have to return something?", "--backend", "RAG",
              PLAYGROUND_CACHE_DIR=str(tmp_path / "a-file" / "cache"), PLAYGROUND_MAX_NEW_TOKENS="24")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "30 days" in out.stdout
