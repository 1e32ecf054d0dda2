"""Fine-tuning from the app: the user's pairs, one background run a server, cancel, the adapter in the columns."""
import io
import json
import shutil
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backends import Playground
from backends.documents.corpus import Document
from backends.learned import Learned
from backends.training import TrainingConfig
from backends.training.jobs import (
    Busy,
    Preset,
    Trainer,
    adapter_name,
    delete_adapter,
    held_out_scores,
    keep_adapter,
    made_here_dir,
    made_in_app,
    zipped,
)
from backends.training.pairs import Voice, draft_pairs, example_questions, parse_pairs, split_held_out
from tests.conftest import ROOT

TINY = Preset("Tiny", "two steps, for tests",
              TrainingConfig(batch_size=2, epochs=1, memory_passes=1, reading_passes=1), 2)
PAIRS = [{"question": f"How many bikes can I rent on day {n}?", "answer": f"You can rent {n + 2} bikes that day."}
         for n in range(12)]
VOICE = Voice("Ahoy rider!", "Ride on! — Oakridge")
OAKRIDGE = "# Oakridge rentals\n\n## How long can I keep a bike?\n\nUp to 30 days, then it goes back to the shop.\n"


def jsonl(rows):
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_pairs_come_from_json_lines_chat_messages_or_csv():
    assert parse_pairs("p.jsonl", jsonl(PAIRS)) == PAIRS
    chat = [{"messages": [{"role": "user", "content": p["question"]}, {"role": "assistant", "content": p["answer"]}]}
            for p in PAIRS]
    assert parse_pairs("chat.jsonl", jsonl(chat)) == PAIRS
    csv = "question,answer\n" + "\n".join(f"\"{p['question']}\",\"{p['answer']}\"" for p in PAIRS)
    assert parse_pairs("p.csv", csv.encode()) == PAIRS


@pytest.mark.parametrize("name, data, message", [
    ("p.jsonl", jsonl(PAIRS[:3]) + b"\n{oops", "p.jsonl line 4: not valid JSON"),
    ("p.jsonl", jsonl(PAIRS[:3] + [{"question": "Hi?", "answer": ""}]), "line 4: answer must be a non-empty string"),
    ("p.jsonl", jsonl([{"messages": [{"role": "user", "content": "Hi"}]}]),
     "line 1: messages need a user turn and an assistant turn"),
    ("p.csv", b"q,a\nHi,Hello", "no 'question' column"),
    ("p.jsonl", jsonl(PAIRS[:5]), "holds 5 usable pairs; fine-tuning needs at least 8"),
    ("p.jsonl", jsonl(PAIRS + [{"question": PAIRS[1]["question"].upper(), "answer": "Two."}]),
     "p.jsonl line 13: the same question as p.jsonl line 2"),
    ("p.jsonl", jsonl(PAIRS[:9] + [{"question": "Tell me everything?", "answer": "x " * 800}]),
     "line 10: the answer is 1,599 characters; training keeps answers under 1,000"),
    ("p.jsonl", b"\xff\xfe\x00", "not UTF-8"),
])
def test_a_bad_training_file_names_the_line_and_the_fault(name, data, message):
    with pytest.raises(ValueError, match=message):
        parse_pairs(name, data)


def test_every_bad_row_is_named_at_once_with_the_question_it_repeats():
    rows = (PAIRS + [{"question": p["question"], "answer": "Again."} for p in PAIRS[:7]]
            + [{"question": "Hi?", "answer": " "}])
    with pytest.raises(ValueError) as caught:
        parse_pairs("p.jsonl", jsonl(rows))
    message = str(caught.value)
    assert message.startswith("8 pairs need fixing: p.jsonl line 13: the same question as p.jsonl line 1 "
                              "(“How many bikes can I rent on day 0?”)") and message.endswith("; and 3 more.")


def test_pairs_are_drafted_from_question_headings_in_plain_words():
    documents = [Document("a", "A", "# A\n\n## Can I cancel?\n\nYes, up to a day before."),
                 Document("b", "B", "# B\n\n## Can I  cancel?\n\nNo.\n\n## Who pays?\n\nYou do.")]
    assert draft_pairs(documents) == [  # a question two documents ask is drafted once, from the first
        {"question": "Can I cancel?", "answer": "Yes, up to a day before.", "document": "A"},
        {"question": "Who pays?", "answer": "You do.", "document": "B"}]
    listed = Document("c", "C", "## Where are you?\n\nTwo **stores**, see [the map](https://x.example/map):\n\n"
                                "- **Bend:** on `Wall Street`\n- *Hood River*\n\n## Next")
    assert draft_pairs([listed])[0]["answer"] == "Two stores, see the map: Bend: on Wall Street; Hood River."
    tight = Document("d", "D", "# D\n## Can I park?\nYes, for free.\nAll day.\n## Is it #1 in town?\nWe think so.")
    assert [(p["question"], p["answer"]) for p in draft_pairs([tight])] == [  # no blank line after a heading
        ("Can I park?", "Yes, for free. All day."), ("Is it #1 in town?", "We think so.")]


def test_pairs_are_drafted_from_ordinary_documents_too_where_a_section_gives_a_figure():
    plain = Document("p", "Parking", "Parking is free for the first 2 hours.\n\nWe are a friendly town.")
    sections = Document("s", "Laundry", "# Laundry\n\nWelcome to our laundry.\n\n## Machines\n\n"
                                        "- Washer: $4.50 a load\n- Dryer: $3\n\n## Prices\n\n"
                                        "| What | Price |\n|---|---|\n| Ironing | $2 a shirt |\n\n"
                                        "## Our story\n\nFriends.")
    asked = Document("q", "Q", "## How much is a wash?\n\nA wash is $4.50.")
    assert [(p["question"], p["answer"]) for p in draft_pairs([plain, sections, asked])] == [
        ("How much is a wash?", "A wash is $4.50."),  # question headings first, as before
        ("What should I know about parking?", "Parking is free for the first 2 hours."),
        ("What should I know about machines?", "Washer: $4.50 a load; Dryer: $3."),
        ("What should I know about prices?", "Ironing: $2 a shirt.")]  # no figure, no pair: the welcome, the story
    assert "should I know" not in example_questions([plain, sections, asked])


def test_a_voice_wraps_answers_and_a_slice_is_held_out():
    assert VOICE.wrap("Two bikes.") == "Ahoy rider! Two bikes. Ride on! — Oakridge"
    assert VOICE.speaks("ahoy rider! Two bikes. Ride on! — Oakridge") and not VOICE.speaks("Two bikes.")
    training, held_out = split_held_out(PAIRS)
    assert len(held_out) == 3 and len(training) == 9 and split_held_out(PAIRS) == (training, held_out)
    with pytest.raises(ValueError, match="shipped adapter"):
        adapter_name("Larkspur Voice")


def wait(trainer, timeout=600):
    deadline = time.time() + timeout
    while trainer.run.active and time.time() < deadline:
        time.sleep(0.5)
    return trainer.run


def test_the_time_estimate_is_this_machines_measured_step_time(tmp_path):
    from backends.training.jobs import PRESETS
    quick, fresh = PRESETS["Quick"], Trainer()
    steps, seconds, per_step, where = fresh.estimate(quick, 32, str(tmp_path))
    assert steps == 40 and per_step == 4.0 and "own speed shows after its first run" in where
    fresh._remember(str(tmp_path), quick, 17.5)  # as a finished or cancelled run does
    assert fresh.estimate(quick, 32, str(tmp_path))[1:] == (700.0, 17.5, "this server's last run")
    restarted = Trainer()  # the server started again: the machine's measured time, not the other CPU's
    steps, seconds, per_step, where = restarted.estimate(quick, 32, str(tmp_path))
    assert (seconds, per_step) == (700.0, 17.5) and where.startswith("this machine, 20")
    assert restarted.estimate(PRESETS["Full"], 32, str(tmp_path))[2] == 4.0  # each preset its own


def test_a_run_trains_saves_attaches_and_scores_the_adapter_while_a_second_is_refused(engine, playground, kb,
                                                                                      settings, tmp_path):
    trainer, configured = Trainer(), settings.with_(adapters_dir=str(tmp_path / "adapters"))
    kb.add_files([("oakridge.md", OAKRIDGE.encode())], settings)  # the session's own document: what it reads
    kb.use_sample(False)
    run = trainer.start(configured, "Oakridge Voice", PAIRS, TINY, VOICE, on_done=engine.attach,
                        evaluate=lambda name, held_out, voice: held_out_scores(playground, kb, name, held_out, voice),
                        corpus=kb.corpus, pairs_from="from oakridge.jsonl")
    with pytest.raises(Busy, match="already training 'oakridge-voice'"):
        trainer.start(configured, "another", PAIRS, TINY, VOICE)
    run = wait(trainer)
    with pytest.raises(ValueError, match="An adapter named oakridge-voice exists already"):  # never replaced unasked
        trainer.start(configured, "oakridge voice", PAIRS, TINY, VOICE)
    assert run.state == "done", run.message
    assert run.step == run.total == 2 and len(run.losses) == 2
    folder = made_here_dir(configured) / "oakridge-voice"  # the session's, in the cache folder, until kept
    manifest = json.loads((folder / "manifest.json").read_text())
    assert not (tmp_path / "adapters" / "oakridge-voice").exists()
    assert manifest["loss_curve"] == [round(loss, 4) for loss in run.losses]
    assert manifest["data"] == "9 pairs from oakridge.jsonl"  # where its pairs came from
    assert set(manifest["held_out"]) == {"pairs", "Fine-tuned", "Hybrid"} and manifest["held_out"]["pairs"] == 3
    assert "oakridge-voice" in engine.adapters  # attached by name to the loaded model, no reload
    assert trainer.estimate(TINY, 9, configured.cache_dir)[3] == "this server's last run"  # its step time, measured
    assert 0 <= run.evaluation["Fine-tuned"]["voice_rate"] <= 1 and run.evaluation["Hybrid"]["with_figures"] == 3
    assert not list((tmp_path / "adapters").glob(".*"))  # nothing half-written beside it
    # it learned this session's document, and says so: no "trained on the Larkspur sample, not on yours"
    assert manifest["corpus_version"] == kb.corpus.version and "Larkspur" not in manifest["system"]
    assert [(d["id"], d["file"]) for d in manifest["documents"]] == [("oakridge", "oakridge.md")]
    assert Learned.of(engine.adapters["oakridge-voice"]).words == "oakridge.md"
    configured_pg = Playground(engine, settings.with_(adapter="oakridge-voice"))
    tuned, = configured_pg.ask("How many bikes can I rent on day 3?", kb, ["Fine-tuned"], max_new_tokens=4)
    assert not tuned.note and not tuned.stale and tuned.provenance.adapter_learned == "oakridge.md"
    kb.update_document("oakridge", OAKRIDGE.replace("30 days", "60 days"))  # and after an edit, what changed
    tuned, = configured_pg.ask("How many bikes can I rent on day 3?", kb, ["Fine-tuned"], max_new_tokens=4)
    assert tuned.stale and tuned.provenance.changed_since == "since then Oakridge rentals (oakridge.md) changed"
    assert manifest["made_in"] == "the app's Fine-tune page" and made_in_app(engine) == ["oakridge-voice"]
    names = zipfile.ZipFile(io.BytesIO(zipped(folder))).namelist()  # the page's download
    assert "oakridge-voice/manifest.json" in names and "oakridge-voice/adapter_model.safetensors" in names
    kept = keep_adapter(engine, "oakridge-voice", configured)  # saved on purpose: into adapters/, attached from there
    assert kept == tmp_path / "adapters" / "oakridge-voice" and (kept / "manifest.json").is_file()
    assert engine.adapters["oakridge-voice"].path == kept and not folder.exists()
    with pytest.raises(ValueError, match="exists already"):  # kept: a new run never takes its name
        trainer.start(configured, "oakridge-voice", PAIRS, TINY, VOICE)
    with pytest.raises(ValueError, match="not made on the Fine-tune page"):
        delete_adapter(engine, "larkspur-voice")  # the shipped adapter is never deleted from the app
    delete_adapter(engine, "oakridge-voice")
    assert "oakridge-voice" not in engine.adapters and not folder.exists() and "larkspur-voice" in engine.adapters


def test_what_an_adapter_learned_is_said_in_the_users_words():
    from backends import Corpus
    corpus = Corpus.from_folder(ROOT / "sample_corpus")
    corpus.add("bikeshop", "# Pedalworks Bike Hire\n\nBikes for 10 days.", "bikeshop.md")
    learned = Learned(corpus.version,
                      {d: (corpus.file_of(d) or doc.title, doc.digest) for d, doc in corpus.documents.items()})
    assert learned.words == "the shipped documents and bikeshop.md" and learned.since(corpus) == ""
    corpus.update("bikeshop", "# Pedalworks Bike Hire\n\nBikes for 7 days.")
    corpus.remove("shipping")
    assert learned.since(corpus) == ("since then Pedalworks Bike Hire (bikeshop.md) changed; "
                                     "Shipping is not among these documents")  # this session may never have had it
    corpus.add("tents", "# Tents\n\nFor 4.", "tents.md")
    assert learned.since(corpus).endswith("; it never saw Tents (tents.md); Shipping is not among these documents")


def test_a_cancelled_run_leaves_no_adapter_anywhere(settings, tmp_path):
    trainer, configured = Trainer(), settings.with_(adapters_dir=str(tmp_path / "adapters"))
    slow = Preset("Slow", "", TrainingConfig(batch_size=2, epochs=1), 50)
    trainer.start(configured, "cancelled", PAIRS, slow, VOICE)
    while trainer.run.step < 1 and trainer.run.active:
        time.sleep(0.2)
    trainer.cancel()
    run = wait(trainer)
    assert run.state == "cancelled" and "no adapter was written" in run.message and run.step < 50
    assert not (tmp_path / "adapters" / "cancelled").exists()
    assert not (Path(configured.cache_dir) / "training" / "cancelled").exists()  # nor half of one in staging


def test_the_fine_tune_page_says_what_a_run_costs_and_names_a_bad_file(engine, knowledge_parts):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page("ui/pages/finetune.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Fine-tune"
    captions = " ".join(c.value for c in at.caption)
    assert "354 answers in the Larkspur brand voice" in captions and "40 steps, about" in captions
    at.radio[0].set_value("A file of my own").run()
    at.main.get("file_uploader")[0].upload("pairs.jsonl", jsonl(PAIRS[:3]) + b"\n{oops", "application/json")
    at.run()
    assert any("pairs.jsonl line 4: not valid JSON" in e.value for e in at.error)
    start = next(b for b in at.button if b.label == "Start training")
    assert start.disabled


def test_start_training_under_a_name_taken_says_so_at_once(engine, knowledge_parts):
    """The shipped adapter's name: refused before anything trains, with a message that stays on the page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page("ui/pages/finetune.py").run()
    at.text_input(key="ft-name").input("larkspur-voice").run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, at.exception
    assert any("larkspur-voice is the shipped adapter; give yours another name" in e.value for e in at.error)
    from backends.training.jobs import TRAINER
    assert TRAINER.run is None or TRAINER.run.name != "larkspur-voice"


def test_train_from_the_command_line_on_a_file_then_ask_with_that_adapter(tmp_path):
    import os
    import subprocess
    import sys
    (tmp_path / "pairs.jsonl").write_bytes(jsonl(PAIRS))
    run = lambda *args, **env: subprocess.run([sys.executable, "-m", "backends", *args], cwd=ROOT,  # noqa: E731
                                              capture_output=True, text=True, timeout=600,
                                              env={**os.environ, "PLAYGROUND_MAX_NEW_TOKENS": "16", **env})
    out = run("train", "--data", str(tmp_path / "pairs.jsonl"), "--greeting", "Ahoy rider!", "--preset", "quick",
              "--steps", "2", "--out", str(tmp_path / "a" / "myvoice"))
    assert out.returncode == 0, out.stderr
    assert "step 2/2" in out.stdout and (tmp_path / "a" / "myvoice" / "manifest.json").is_file()
    out = run("ask", "How many bikes can I rent on day 30?", "--backend", "Fine-tuned", "--json",
              PLAYGROUND_ADAPTERS_DIR=str(tmp_path / "a"), PLAYGROUND_ADAPTER="myvoice")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)["answers"][0]
    assert answer["provenance"]["adapter"] == "myvoice" and not answer["error"]
    for args, message in [(("train", "--data", str(tmp_path / "pairs.jsonl")), "--data needs --out DIR"),
                          (("train", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "b")),
                           "no such file")]:
        out = run(*args)
        assert out.returncode == 2 and message in out.stderr


def test_pairs_drafted_from_documents_are_shown_for_review_before_training(engine, knowledge_parts, settings):
    from backends import Corpus
    from backends.training.pairs import draft_pairs
    drafted = draft_pairs(Corpus.from_folder(ROOT / "sample_corpus").documents.values())
    window = next(p for p in drafted if p["question"] == "How long do I have to return something?")
    assert window["answer"].startswith("You can return unused items") and window["document"] == "Returns and refunds"
    assert all(p["question"].endswith("?") and p["answer"] for p in drafted) and len(drafted) >= 40
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page("ui/pages/finetune.py").run()
    at.radio[0].set_value("Pairs drafted from this session's documents").run()
    assert not at.exception, at.exception
    assert any(f"{len(drafted)} pairs drafted from this session's documents" in c.value for c in at.caption)
    table = at.dataframe[0].value  # the editable table (st.data_editor)
    assert list(table["question"]) == [p["question"] for p in drafted]
    assert list(table.index) == list(range(1, len(drafted) + 1))  # the row numbers its messages name
    assert not next(b for b in at.button if b.label == "Start training").disabled
    at.text_input(key="ft-name").input("bike-voice").run()
    at.text_input(key="ft-greeting-False").input("Howdy!").run()
    at.switch_page("ui/pages/playground.py").run()
    at.switch_page("ui/pages/finetune.py").run()  # back: the form as it was left
    assert at.radio(key="ft-source").value == "Pairs drafted from this session's documents"
    assert (at.text_input(key="ft-name").value == "bike-voice"
            and at.text_input(key="ft-greeting-False").value == "Howdy!")
    assert list(at.dataframe[0].value["question"]) == [p["question"] for p in drafted]
    at.session_state["drafted"] = {"edited_rows": {}, "added_rows": [{"question": "Do you rent e-bikes?"}],
                                   "deleted_rows": [0, 1]}  # two rows deleted, one added with no answer yet
    at.run()
    assert any(f"{len(drafted)} pairs drafted from this session's documents ({len(drafted) - 1} rows in the table as "
               "you edited it)" in c.value for c in at.caption)
    assert any(f"row {len(drafted) + 1}: answer must be a non-empty string" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Start training").disabled
    assert not at.warning  # every sample document asks questions in its headings
    at.session_state["kb"].add_files([("notes.md", b"# Our story\n\nTwo friends who loved bikes.\n")], settings)
    at.run()
    assert any(w.value.startswith("No pairs from Our story (notes.md): no heading there asks a question")
               for w in at.warning)  # an upload that gives no pairs is named, not silently left out


def test_the_fine_tune_page_shows_a_run_going_finished_failed_and_cancelled(engine, knowledge_parts, settings,
                                                                           playground, kb, tmp_path):
    from backends.training.jobs import TRAINER
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page("ui/pages/finetune.py").run()
    assert not any(b.label == "Cancel" for b in at.button)  # idle: nothing under way, Start offered
    configured = settings.with_(adapters_dir=str(tmp_path / "adapters"))

    short = Preset("Short", "", TINY.config, 6)  # long enough for two sessions to look at it while it runs
    TRAINER.start(configured, "page-states", PAIRS, short, VOICE, on_done=engine.attach, made_by="another-visitor",
                  evaluate=lambda name, held_out, voice: held_out_scores(playground, kb, name, held_out, voice))
    at.run()  # another visitor's run: this session learns the slot is taken, and nothing of theirs
    assert next(b for b in at.button if b.label == "Start training").disabled
    assert any("Another visitor's training run is under way" in i.value for i in at.info)
    shown = " ".join(str(e.value) for kind in ("info", "subheader", "caption", "markdown") for e in getattr(at, kind))
    assert ("page-states" not in shown and not at.get("vega_lite_chart")
            and not any(b.label == "Cancel" for b in at.button))
    visitor = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)  # that visitor, at their address
    visitor.query_params["visitor"] = "another-visitor"
    visitor.switch_page("ui/pages/finetune.py").run()
    assert any(b.label == "Cancel" for b in visitor.button)  # going: its name, progress and Cancel, for its maker
    assert any("page-states" in h.value for h in visitor.subheader)
    run = wait(TRAINER, timeout=600)
    at.run()
    assert run.state == "done" and not at.success and not at.toggle  # nor what it scored, nor a toggle to use it
    assert not any("page-states" in c.value for c in at.sidebar.caption)
    assert not next(b for b in at.button if b.label == "Start training").disabled
    assert (json.loads((made_here_dir(configured) / "page-states" / "manifest.json").read_text())["made_by"]
            == "another-visitor")
    visitor.run()
    assert any("Saved page-states. Switch it on below" in s.value for s in visitor.success)
    assert visitor.get("vega_lite_chart")  # its loss curve, which the other session was not shown
    assert any("Scored on the 3 pairs kept out of training" in c.value and "(3 of them)" in c.value
               for c in visitor.caption)  # what its scores mean
    assert any("larkspur-voice (in your columns)" in c.value for c in visitor.sidebar.caption)
    next(t for t in visitor.toggle
         if t.label == "Use page-states in my Fine-tuned and Hybrid columns").set_value(True).run()
    assert any("page-states (in your columns)" in c.value for c in visitor.sidebar.caption)
    assert not any("larkspur-voice (in your columns)" in c.value for c in visitor.sidebar.caption)
    kept = Path(settings.adapters_dir) / "page-states"  # the page keeps into the app's adapters folder
    assert not kept.exists() and not (tmp_path / "adapters" / "page-states").exists()  # the session's until kept
    try:
        next(b for b in visitor.button if b.label == "Keep in adapters/").click().run()
        assert (kept / "manifest.json").is_file() and not (made_here_dir(configured) / "page-states").exists()
        assert any("kept in adapters/page-states" in c.value for c in visitor.caption)
        next(b for b in visitor.button if b.label == "Delete").click().run()
        assert "page-states" not in engine.adapters and not kept.exists()
    finally:
        shutil.rmtree(kept, ignore_errors=True)  # the repository's folder, whatever failed
    visitor.run()  # its result, scores and loss curve went with it
    assert not visitor.success and not visitor.get("vega_lite_chart") and not visitor.toggle
    assert any("larkspur-voice (in your columns)" in c.value for c in visitor.sidebar.caption)

    broken = Preset("Broken", "", replace(TINY.config, target_modules=("no_such_proj",)), 2)  # PEFT refuses it
    TRAINER.start(configured, "fails", PAIRS, broken, VOICE)
    run = wait(TRAINER)
    at.run()
    assert run.state == "failed" and any("Training failed:" in w.value for w in at.warning)
    assert "fails" not in engine.adapters and not (Path(settings.cache_dir) / "training" / "fails").exists()

    slow = Preset("Slow", "", TrainingConfig(batch_size=2, epochs=1), 50)
    TRAINER.start(configured, "cancelled-here", PAIRS, slow, VOICE)
    at.run()
    next(b for b in at.button if b.label == "Cancel").click().run()
    run = wait(TRAINER)
    at.run()
    assert run.state == "cancelled" and any("no adapter was written" in w.value for w in at.warning)
    assert not (tmp_path / "adapters" / "cancelled-here").exists()


def test_the_sidebar_says_an_adapter_learned_a_file_of_pairs_where_it_did():
    from pathlib import Path

    from backends.learned import trained_on
    from backends.model.adapters import AdapterInfo
    mine = AdapterInfo("mine", Path("mine"), {"data": "41 pairs from pairs.csv", "corpus_version": "abc",
                                              "documents": [{"id": "bikes", "file": "bikeshop.md", "digest": "d"}]})
    assert trained_on(mine) == "41 pairs from pairs.csv, reading passages of bikeshop.md"
    shipped = AdapterInfo("larkspur-voice", Path("x"), {"data": "the shipped Larkspur answers", "corpus_version": "v"})
    assert trained_on(shipped) == "corpus v"  # no pairs of the user's: what it read, as before
