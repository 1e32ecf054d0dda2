"""Command line: `python -m backends ask "QUESTION"`, `python -m backends edits`."""
from __future__ import annotations

import argparse
import json
import sys

from .edits import PREPARED_EDITS, get_edit
from .playground import KnowledgeBase, Playground, check_question, load_engine, load_knowledge_parts
from .registry import backend_names, get_backend
from .settings import Settings


def _ask(args, settings: Settings) -> int:
    check_question(args.question, settings)  # fail fast, before minutes of model loading
    names = args.backend or backend_names()
    for name in names:
        get_backend(name)
    edits = [get_edit(name) for name in args.edit or []]
    playground = Playground(load_engine(settings), settings)
    kb = None
    if any(get_backend(n).uses_retrieval for n in names) or edits:
        kb = KnowledgeBase.create(settings, *load_knowledge_parts(settings))
        for edit in edits:
            kb.apply_edit(edit)
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


def _edits(args, settings: Settings) -> int:
    for edit in PREPARED_EDITS:
        print(f"{edit.name:18} {edit.title}\n{'':18} {edit.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backends", description="RAG vs fine-tuning, from the command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer a question with the chosen backends")
    ask.add_argument("question")
    ask.add_argument("--backend", action="append", help=f"one of {', '.join(backend_names())}; repeat for more (default: all)")
    ask.add_argument("--edit", action="append", help="apply this prepared edit first; repeat for more (see `edits`)")
    ask.add_argument("--json", action="store_true", help="print answers with sources, timings and provenance as JSON")
    ask.set_defaults(run=_ask)
    commands.add_parser("edits", help="list the prepared policy edits").set_defaults(run=_edits)
    args = parser.parse_args(argv)
    try:
        return args.run(args, Settings.load())
    except (ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
