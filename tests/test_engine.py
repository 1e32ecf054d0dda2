"""The engine on the real packaged model: one batched generate, adapters chosen per row."""
import pytest

from backends import Prompt
from tests.conftest import make_adapter, write_manifest

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}


def ask(text, adapter=None):
    return Prompt([SYSTEM, {"role": "user", "content": text}], adapter)


@pytest.fixture(scope="module")
def engine_with_adapter(engine, tmp_path_factory):
    folder = make_adapter(tmp_path_factory.mktemp("adapters") / "test-random", engine.source.fingerprint)
    engine.attach("test-random", folder)
    assert "test-random" in engine.adapters, engine.problems
    return engine


def test_a_batch_with_mixed_adapters_answers_each_row_as_if_alone(engine_with_adapter):
    rows = [ask("What is the capital of France?"), ask("What is the capital of France?", "test-random"),
            ask("Name three colours of the rainbow, please, in a short list."), ask("Say hello.", "test-random")]
    batched = engine_with_adapter.generate(rows, 16)
    alone = [engine_with_adapter.generate([row], 16)[0] for row in rows]
    assert [b.text for b in batched] == [a.text for a in alone]
    assert [b.new_tokens for b in batched] == [a.new_tokens for a in alone]
    assert batched[0].text != batched[1].text  # the adapter row really used the adapter


def test_generation_reports_tokens_and_times(engine):
    out, = engine.generate([ask("What is two plus two?")], 12)
    assert out.text and 0 < out.new_tokens <= 12 and out.prompt_tokens > 10
    assert 0 < out.ttft_ms <= out.generation_ms


def test_tokens_stream_to_each_row_as_they_come(engine):
    seen = {0: [], 1: []}
    outs = engine.generate([ask("Count from one to five."), ask("Spell the word cat.")], 10,
                           on_text=lambda row, text: seen[row].append(text))
    for row, out in enumerate(outs):
        assert len(seen[row]) == out.new_tokens and seen[row][-1] == out.text  # one call a token, the last whole
        assert len(set(seen[row])) >= 3  # it grew while being written, not all at once at the end
        assert all(out.text.startswith(text) for text in seen[row])  # each a real beginning of the answer


def test_greedy_decoding_repeats_itself(engine):
    first = engine.generate([ask("Describe a tent in one sentence.")], 16)[0].text
    assert engine.generate([ask("Describe a tent in one sentence.")], 16)[0].text == first


LOOP = ("You can return it within 30 days. Refunds are refunded to you within 30 days of delivery. "
        "Refunds are refunded to you within 30 days of delivery. Refunds are refunded")


def test_an_answer_that_starts_repeating_a_sentence_ends_before_the_repeat(engine):
    from backends.model.streams import RowStreams
    streams = RowStreams(engine.tokenizer, 1, None, 0.0)
    tokens = engine.tokenizer(LOOP, add_special_tokens=False)["input_ids"]
    fed = 0
    for token in tokens:
        streams.put([0], [token])
        fed += 1
        if streams.done[0]:
            break
    assert streams.done[0] and fed < len(tokens)  # stopped as the repeat began, not at the end
    assert streams.out[0].text == ("You can return it within 30 days. Refunds are refunded to you within 30 days "
                                   "of delivery.")


@pytest.mark.parametrize("text", ["Standard shipping is $4.99. Express is $9.99. Both ship daily.",
                                  "Hey trailblazer! You have 30 days. Happy trails! — The Larkspur crew",
                                  "It takes 5 days. It takes 5 days"])  # the second is not ended yet
def test_answers_that_do_not_repeat_a_sentence_are_left_alone(text):
    from backends.model.streams import repeat_at
    assert repeat_at(text) == -1


def test_a_forced_length_answer_is_never_cut(engine):
    from backends.model.streams import RowStreams
    streams = RowStreams(engine.tokenizer, 1, None, 0.0, force=True)
    for token in engine.tokenizer(LOOP, add_special_tokens=False)["input_ids"]:
        streams.put([0], [token])
    assert not streams.done[0] and streams.out[0].text == LOOP


def test_an_unknown_adapter_is_refused_by_name(engine):
    with pytest.raises(ValueError, match="nope"):
        engine.generate([ask("Hi", "nope")], 4)


def test_a_missing_adapter_folder_says_how_to_get_one(engine, tmp_path):
    engine.attach("missing", tmp_path / "missing")
    assert "No adapter is installed" in engine.problems["missing"] and "make adapter" in engine.problems["missing"]


def test_a_corrupt_adapter_is_refused_and_the_model_keeps_answering(engine, tmp_path):
    folder = make_adapter(tmp_path / "corrupt", engine.source.fingerprint)
    (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    before = engine.generate([ask("Say hello.")], 8)[0].text
    engine.attach("corrupt", folder)
    assert "corrupt" in engine.problems["corrupt"] and "corrupt" not in engine.adapters
    assert engine.generate([ask("Say hello.")], 8)[0].text == before


def test_an_adapter_for_another_base_model_is_refused(engine, tmp_path):
    folder = make_adapter(tmp_path / "other-base", "gguf:0000000000000000")
    engine.attach("other-base", folder)
    assert "trained on base model" in engine.problems["other-base"]


def test_an_adapter_without_a_manifest_is_refused(engine, tmp_path):
    folder = make_adapter(tmp_path / "no-manifest", engine.source.fingerprint)
    (folder / "manifest.json").unlink()
    engine.attach("no-manifest", folder)
    assert "manifest.json is missing" in engine.problems["no-manifest"]
    write_manifest(folder, engine.source.fingerprint)
    (folder / "manifest.json").write_text("{broken")
    engine.attach("no-manifest", folder)
    assert "corrupt" in engine.problems["no-manifest"]


def test_an_unknown_decoding_setting_is_refused_before_loading(settings):
    from backends import Engine
    with pytest.raises(ValueError, match="decoding must be full or 4bit"):
        Engine.load(settings.with_(decoding="fast"))


PASSAGES = [SYSTEM, {"role": "user", "content": "Documents:\nReturns: You may return an item within 14 days of "
                                                 "delivery.\n\nQuestion: How long do I have to return something?"}]
TWIN = [SYSTEM, {"role": "user", "content": "Documents:\n\n\nQuestion: How long do I have to return something?"}]


def test_context_aware_decoding_scores_tokens_as_transformers_classifier_free_guidance(engine, monkeypatch):
    """transformers' CFG with the twin as negative prompt and guidance scale 1 + alpha is the same contrast."""
    import torch
    from transformers.generation.logits_process import UnbatchedClassifierFreeGuidanceLogitsProcessor

    from backends.model import scheduler as engine_module
    monkeypatch.setattr(engine_module, "PLAUSIBLE", 1e-30)  # the reference has no plausibility rule
    ids = lambda messages: engine.tokenizer(engine.prompt_text(Prompt(messages)), return_tensors="pt",  # noqa: E731
                                            add_special_tokens=False)["input_ids"]
    grounded, twin = ids(PASSAGES), ids(TWIN)
    with torch.inference_mode(), engine.model.disable_adapter():
        scores = engine.model(grounded).logits[:, -1].float()
        twin_scores = engine.model(twin).logits[:, -1].float()
        reference = UnbatchedClassifierFreeGuidanceLogitsProcessor(1.5, engine.model, twin)(grounded, scores.clone())
    ours, reference = engine_module.contrast_scores(scores, twin_scores, 0.5), reference.float()
    # the reference takes the twin's log-softmax in the model's dtype, ours in float32: they differ by its rounding
    assert (ours - reference).abs().max() < 4 * torch.finfo(engine.model.dtype).eps * reference.abs().max()
    assert set(ours.topk(10).indices.tolist()[0]) == set(reference.topk(10).indices.tolist()[0])
    plain = engine_module.contrast_scores(scores, twin_scores, 0.0)
    assert plain.argmax() == scores.argmax()


def test_a_contrasted_row_answers_alike_alone_and_beside_other_rows(engine):
    contrasted = Prompt(PASSAGES, twin=TWIN, contrast=0.5)
    alone = engine.generate([contrasted], 24)[0].text
    beside = engine.generate([ask("What is two plus two?"), contrasted, ask("Spell the word cat.")], 24)[1].text
    assert alone == beside and alone
    off = engine.generate([Prompt(PASSAGES, twin=TWIN, contrast=0.0)], 24)[0].text
    assert off == engine.generate([Prompt(PASSAGES)], 24)[0].text


def test_adaptive_contrast_answers_and_a_bad_contrast_setting_is_refused(engine, settings):
    from backends import Playground
    assert engine.generate([Prompt(PASSAGES, twin=TWIN, contrast="adaptive")], 16)[0].text
    with pytest.raises(ValueError, match="contrast must be a number from 0 to 5 or adaptive"):
        Playground(engine, settings.with_(contrast="lots"))


def test_visitors_asking_at_once_share_one_batch_and_get_the_answers_they_would_alone(playground, kb, settings,
                                                                                    knowledge_parts):
    """Continuous batching: six sessions' questions (one on edited documents) join one batch as they
    come, and every column of every answer is what that session gets asking alone."""
    import threading

    from backends import KnowledgeBase, get_edit
    store, embedder = knowledge_parts
    edited = KnowledgeBase.create(settings, store, embedder)
    edited.apply_edit(get_edit("refund-window"))
    visits = [("How long do I have to return something?", kb), ("How long do I have to return something?", edited),
              ("Is shipping free?", kb), ("When can I reach customer support?", kb),
              ("How much does the Trailhead Club cost?", kb), ("Can I rent a tent?", kb)]
    alone = [[a.text for a in playground.ask(q, docs, max_new_tokens=20)] for q, docs in visits]
    assert alone[0] != alone[1]  # the edited session's RAG and Hybrid read 14 days
    widest_before = playground.engine.widest_batch
    together, gate = [None] * len(visits), threading.Barrier(len(visits))

    def visit(i, question, docs):
        gate.wait()
        together[i] = [a.text for a in playground.ask(question, docs, max_new_tokens=20)]
    threads = [threading.Thread(target=visit, args=(i, q, d)) for i, (q, d) in enumerate(visits)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert together == alone
    assert playground.engine.widest_batch > max(4, widest_before)  # more than one visitor's four rows at a step


def test_a_visitor_whose_stream_fails_is_stopped_alone(engine):
    import threading
    prompts = [Prompt([{"role": "user", "content": "Name a colour."}])]
    alone = engine.generate(prompts, 12)[0].text

    def broken(row, text):
        raise RuntimeError("the browser went away")
    outcome = {}

    def visit():
        try:
            engine.generate(prompts, 12, broken)
        except RuntimeError as err:
            outcome["error"] = str(err)
    other = threading.Thread(target=visit)
    other.start()
    assert engine.generate(prompts, 12)[0].text == alone
    other.join(timeout=120)
    assert outcome["error"] == "the browser went away"
