"""Command line: `python -m backends ask "QUESTION"`, `python -m backends edits`."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .documents.edits import PREPARED_EDITS, get_edit
from .documents.index import IndexUnavailable
from .knowledge import KnowledgeBase
from .loading import load_engine, load_knowledge_parts
from .playground import Playground, check_question
from .registry import backend_names, get_backend
from .settings import Settings, settings_table
from .training import TrainingConfig


def _ask(args, settings: Settings) -> int:
    check_question(args.question, settings)  # fail fast, before minutes of model loading
    names = args.backend or backend_names()
    for name in names:
        get_backend(name)
    edits = [get_edit(name) for name in args.edit or []]
    files = _read_docs(args.docs) if args.docs else []  # unreadable paths fail before the model loads
    kb = None
    if any(get_backend(n).uses_retrieval for n in names) or edits or files:  # first: an unreachable store fails fast
        kb = KnowledgeBase.create(settings, *load_knowledge_parts(settings))
        for edit in edits:
            kb.apply_edit(edit)
        if files:
            _only_these(kb, files, settings)
    playground = Playground(load_engine(settings), settings)
    answers = playground.ask(args.question, kb, names)
    if args.json:
        print(json.dumps({"question": args.question, "edits": [e.name for e in edits],
                          "corpus_version": kb.corpus.version if kb else None,
                          "answers": [a.to_dict() for a in answers]}, indent=2))
        return 0
    for answer in answers:
        print(f"== {answer.backend}")
        if answer.note:
            print(f"   note: {answer.note}")
        print(f"   {answer.error or answer.text}")
        for source in answer.sources:
            print(f"   source: {source.title} (version {source.version}, score {source.score:.2f})")
        t = answer.timings
        if not answer.error:
            print(f"   {t.total_ms / 1000:.1f} s total, {t.new_tokens} tokens, first token {t.ttft_ms / 1000:.1f} s")
    return 0


def _only_these(kb: KnowledgeBase, files: list[tuple[str, bytes]], settings: Settings) -> None:
    """The knowledge base answering from these files alone, each file's result on stderr."""
    results = kb.add_files(files, settings)
    for result in results:
        print(("" if not result.error else "error: ") + result.line, file=sys.stderr)
    if all(r.error for r in results):
        raise ValueError("None of the --docs files could be used.")
    kb.use_sample(False)


def _read_docs(paths: list[str]) -> list[tuple[str, bytes]]:
    """(name, bytes) of each file named, and of each supported file inside each folder named."""
    from pathlib import Path

    from .documents.convert import FORMATS
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and not p.is_symlink() and p.suffix.lower() in FORMATS)
            if not found:
                raise ValueError(f"{path} holds no supported documents ({', '.join(sorted(FORMATS))}).")
            files += [(p.name, p.read_bytes()) for p in found]
        elif path.is_file():
            files.append((path.name, path.read_bytes()))
        else:
            raise ValueError(f"{path}: no such file or folder.")
    return files


def _ingest(args, settings: Settings) -> int:
    from .documents.shared import corpus_of_files, ingest
    location = settings.qdrant_location.strip()
    if location in ("", ":memory:"):
        raise ValueError("ingest writes to a Qdrant folder or server, and the in-memory one is gone when the "
                         "command ends: set PLAYGROUND_QDRANT_LOCATION to a folder or a URL (http://host:6333).")
    files = _read_docs(args.paths)
    corpus, problems = corpus_of_files(files, settings.max_upload_mb * 1_000_000)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if corpus is None:
        raise ValueError("None of the files could be used.")
    name = args.collection or settings.collection or "playground-documents"
    store, embedder = load_knowledge_parts(settings)

    def progress(done, total):
        print(f"\r{done}/{total} documents indexed", end="", file=sys.stderr, flush=True)
    shared, report = ingest(corpus, store, embedder, settings.chunk_chars, name, progress)
    print(file=sys.stderr)
    print(f"{name}: {len(shared.texts)} documents, {shared.chunks} chunks in {location} "
          f"({report.added} written, {report.embedded} embedded afresh, {report.deleted} removed, "
          f"{report.kept} kept; {report.ms / 1000:.1f} s)")
    print(f"Serve them: PLAYGROUND_QDRANT_LOCATION={location} PLAYGROUND_COLLECTION={name} make run")
    return 0


def _edits(args, settings: Settings) -> int:
    for edit in PREPARED_EDITS:
        print(f"{edit.name:18} {edit.title}\n{'':18} {edit.description}")
    return 0


def _train(args, settings: Settings) -> int:
    from dataclasses import replace
    from pathlib import Path

    from .training import train_adapter
    from .training.jobs import PRESETS
    from .training.pairs import Voice, parse_pairs
    if args.steps is not None and args.steps < 1:  # 0 read as "no limit", and a negative count as none
        raise ValueError(f"--steps must be a whole number of at least 1, got {args.steps}.")
    pairs = None
    if args.data:  # a file of the user's own, read (and refused with its line) before the model loads
        if not args.out:
            raise ValueError("--data needs --out DIR, so the shipped adapter is never overwritten.")
        data = Path(args.data)
        if not data.is_file():
            raise ValueError(f"{data}: no such file.")
        voice = Voice(args.greeting or "", args.sign_off or "")
        pairs = [{**p, "answer": voice.wrap(p["answer"])} for p in parse_pairs(data.name, data.read_bytes())]
    preset = PRESETS[args.preset.capitalize()] if args.preset else None
    config = TrainingConfig(epochs=args.epochs, seed=args.seed, rank=args.rank, alpha=args.alpha, learning_rate=args.lr,
                            memory_passes=args.memory_passes, reading_passes=args.reading_passes)
    if preset:
        config = replace(preset.config, seed=args.seed)
    out = Path(args.out or Path(settings.adapters_dir) / settings.adapter)
    started = time.time()

    def progress(step, total, loss):
        print(f"step {step}/{total}  loss {loss:.3f}  {time.time() - started:.0f} s", flush=True)

    max_steps = args.steps or (preset.max_steps if preset else None)
    manifest = train_adapter(settings, out, config, progress, max_steps=max_steps,
                             pairs=pairs, pairs_from=f"from {Path(args.data).name}" if args.data else "")
    print(f"saved {out} (final loss {manifest['final_loss']}, {manifest['training_seconds']} s)")
    if args.evaluate:
        from .evaluation import HELD_OUT, evaluate, format_table, load_questions
        from .evaluation.scoreboard import record_evaluation
        from .loading import load_engine
        from .playground import Playground
        tuned = settings.with_(adapters_dir=str(out.parent), adapter=out.name, hybrid_adapter=out.name)
        result = evaluate(Playground(load_engine(tuned), tuned), load_questions(HELD_OUT))
        record_evaluation(out, result)
        print(format_table(result))
    return 0


def _reader(args, settings: Settings) -> int:
    from pathlib import Path

    from .training.reader import READER, ReaderConfig, train_reader
    config = ReaderConfig(examples=args.examples, steps=args.steps, rank=args.rank, alpha=2 * args.rank,
                          seed=args.seed)  # refuses counts below 1
    out = Path(args.out or Path(settings.adapters_dir) / READER)
    started = time.time()

    def progress(step, total, loss):
        print(f"step {step}/{total}  loss {loss:.3f}  {time.time() - started:.0f} s", flush=True)

    manifest = train_reader(settings, out, config, progress)
    print(f"saved {out} (final loss {manifest['final_loss']}, {manifest['training_seconds']} s)")
    return 0


def _vllm(args, settings: Settings) -> int:
    from .model.vllm_server import VENV, served_folder, server_command
    if not (VENV / "bin" / "python").is_file():
        raise ValueError(f"vLLM is not installed in {VENV}: `make vllm` installs it (CPU build) and starts it")
    folder, name = served_folder(settings)
    argv, env = server_command(settings, folder, name, args.port)
    print(f"Serving {folder} as {name}. Point the app at it with:\n"
          f"  PLAYGROUND_SERVER=http://127.0.0.1:{args.port}/v1 make run", flush=True)
    os.execve(argv[0], argv, env)  # the server in this process's place: Ctrl-C stops it


def _eval(args, settings: Settings) -> int:
    from .evaluation import HELD_OUT, evaluate, format_table, load_questions
    from .loading import load_engine
    from .playground import Playground
    if args.record and (args.questions or args.docs or args.backend):
        raise ValueError("--record records the whole evaluation: the held-out questions, every column, the shipped "
                         "documents.")
    questions = load_questions(args.questions or HELD_OUT)  # a malformed file fails before the model loads
    names = args.backend or backend_names()
    for name in names:
        get_backend(name)
    files = _read_docs(args.docs) if args.docs else []

    def counting(done, total):
        print(f"\r{done}/{total} questions", end="", file=sys.stderr)
    progress = None if args.json else counting
    documents = None
    if files:
        documents = KnowledgeBase.create(settings, *load_knowledge_parts(settings))
        _only_these(documents, files, settings)
    engine = load_engine(settings)
    recorded = None
    if args.record:  # its adapter checked before the evaluation's minutes are spent
        recorded = engine.adapters.get(settings.hybrid_adapter)
        if recorded is None:
            raise ValueError(f"--record writes into the manifest of adapter {settings.hybrid_adapter!r}, which is not "
                             "loaded: "
                             f"{engine.problems.get(settings.hybrid_adapter, 'see the adapters folder')}")
    result = evaluate(Playground(engine, settings), questions, names, progress, documents)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else "\n" + format_table(result))
    if recorded is not None:
        from .evaluation.scoreboard import record_evaluation
        record_evaluation(recorded.path, result)
        print(f"recorded in {recorded.path / 'manifest.json'}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backends",
                                     description="RAG vs fine-tuning, from the command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer a question with the chosen backends")
    ask.add_argument("question")
    ask.add_argument("--backend", action="append",
                     help=f"one of {', '.join(backend_names())}; repeat for more (default: all)")
    ask.add_argument("--edit", action="append", help="apply this prepared edit first; repeat for more (see `edits`)")
    ask.add_argument("--docs", nargs="+", metavar="PATH",
                     help="answer from these files and folders (Markdown, text, PDF, Word, PowerPoint, HTML) "
                          "instead of the sample")
    ask.add_argument("--json", action="store_true", help="print answers with sources, timings and provenance as JSON")
    ask.set_defaults(run=_ask)
    ingest = commands.add_parser(
        "ingest", help="index files and folders into the configured Qdrant location, for the app to serve")
    ingest.add_argument("paths", nargs="+", metavar="PATH",
                        help="files and folders (Markdown, text, PDF, Word, PowerPoint, HTML)")
    ingest.add_argument("--collection",
                        help="the collection's name (default: the collection setting, else playground-documents)")
    ingest.set_defaults(run=_ingest)
    commands.add_parser("edits", help="list the prepared policy edits").set_defaults(run=_edits)
    commands.add_parser("settings", help="list every setting, its default and what it does (Markdown)").set_defaults(
        run=lambda args, settings: print(settings_table()) or 0)
    train = commands.add_parser("train", help="train the LoRA adapter the Fine-tuned and Hybrid columns use")
    train.add_argument("--out", help="adapter folder (default: adapters/<adapter setting>)")
    defaults = TrainingConfig()  # one place for the defaults `make adapter` reproduces
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--steps", type=int, help="stop after this many steps (for a quick try)")
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--rank", type=int, default=defaults.rank)
    train.add_argument("--alpha", type=int, default=defaults.alpha, help="LoRA scaling is alpha / rank")
    train.add_argument("--lr", type=float, default=defaults.learning_rate)
    train.add_argument("--memory-passes", type=int, default=defaults.memory_passes,
                       help="memory examples (bare questions: the Fine-tuned prompt) seen this many times an epoch")
    train.add_argument("--reading-passes", type=int, default=defaults.reading_passes,
                       help="reading examples (questions with passages: the Hybrid prompt) seen this many times "
                            "an epoch")
    train.add_argument("--data",
                       help="train on this file of your own instead (JSON Lines or CSV of question/answer pairs)")
    train.add_argument("--greeting", help="with --data: a greeting to open every answer with")
    train.add_argument("--sign-off", help="with --data: a sign-off to close every answer with")
    train.add_argument("--preset", choices=["quick", "full"], help="the app's presets (quick: 40 steps of 4 examples); "
                       "replaces the recipe options")
    train.add_argument("--evaluate", action="store_true", help="then evaluate on the held-out questions and record it")
    train.set_defaults(run=_train)
    from .training.reader import ReaderConfig
    reading = ReaderConfig()
    reader = commands.add_parser("reader", help="train the reader (answering from passages, on made-up documents) "
                                 "that the reader setting merges into the base model")
    reader.add_argument("--out", help="adapter folder (default: adapters/reader)")
    reader.add_argument("--examples", type=int, default=reading.examples, help="made-up questions to generate")
    reader.add_argument("--steps", type=int, default=reading.steps, help="training steps of 8 questions")
    reader.add_argument("--rank", type=int, default=reading.rank,
                        help="LoRA rank (alpha follows at twice the rank, as in the shipped reader)")
    reader.add_argument("--seed", type=int, default=reading.seed)
    reader.set_defaults(run=_reader)
    vllm = commands.add_parser("vllm", help="serve the base model and the adapters with vLLM (installed by make vllm)")
    vllm.add_argument("--port", type=int, default=int(os.environ.get("VLLM_PORT", 8000)))
    vllm.set_defaults(run=_vllm)
    evaluation = commands.add_parser("eval", help="every backend on every question, before and after the edits")
    evaluation.add_argument("--questions",
                            help="questions file, JSON Lines or CSV (default: the held-out set; see README)")
    evaluation.add_argument("--docs", nargs="+", metavar="PATH",
                            help="score on these files and folders, as they are, instead of the sample before and "
                                 "after its edits")
    evaluation.add_argument("--backend", action="append", help="limit to these backends; repeat for more")
    evaluation.add_argument("--json", action="store_true", help="print rows and summary as JSON")
    evaluation.add_argument("--record", action="store_true",
                            help="write the figures into the Hybrid adapter's manifest, where the tour and the "
                                 "guide cite them")
    evaluation.set_defaults(run=_eval)
    args = parser.parse_args(argv)
    try:
        return args.run(args, Settings.load())
    except (ValueError, KeyError, IndexUnavailable) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
