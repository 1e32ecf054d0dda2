"""How `make vllm` serves the app's base model and adapters with vLLM, in a venv of its own.

vLLM serves a folder of weights, not the packaged GGUF: the app's own dequantized copy in its cache
folder (the same float32 values it computes with), or, with the reader set, the merged model written
beside it. The folder's name is the model's fingerprint, which the served engine checks. vLLM's CPU
build needs: torchvision, torchaudio and torchcodec left out (their registry builds do not match the
project's torch: "operator torchvision::nms does not exist"); its api_server module rather than the
`vllm` script (which looks for a distribution named vllm); cores bound by id ("0-1", not "all").
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..settings import ROOT, Settings
from .weights import Progress, WeightsUnavailable, cached_copy, load_generator, quiet, resolve_dtype

VENV = ROOT / ".venv-vllm"
PORT = 8000
MAX_LORA_RANK = 16  # the Fine-tune page's presets train rank 8 and 16


def served_folder(settings: Settings, progress: Progress | None = None) -> tuple[str, str]:
    """(what vLLM's --model should name, the served name): the app's weights as vLLM reads them."""
    from .served import served_source
    progress = progress or quiet
    source = served_source(settings)
    if not source.gguf_file and not settings.reader:
        return source.location, Path(source.location).name.lower()  # a folder or hub id vLLM reads itself
    name = "smollm2-135m-instruct" + ("-reader" if settings.reader else "")
    folder = cached_copy(source, Path(settings.cache_dir))
    if folder is not None:
        return str(folder), name
    load_generator(settings.with_(dtype="float32"), progress)  # writes the GGUF's copy, or the merged one
    folder = cached_copy(source, Path(settings.cache_dir))
    if folder is None:
        raise WeightsUnavailable(f"The model's copy could not be written into {settings.cache_dir}; make the cache "
                                 "folder writable (the cache_dir setting)")
    return str(folder), name


def server_command(settings: Settings, folder: str, name: str, port: int = PORT,
                   venv: Path = VENV) -> tuple[list[str], dict]:
    """The command line and environment that serve folder under name, with the app's adapters loadable."""
    argv = [str(venv / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server",
            "--model", folder, "--served-model-name", name, "--port", str(port), "--host", "127.0.0.1",
            "--dtype", resolve_dtype(settings.dtype), "--max-model-len", "4096",
            "--enable-lora", "--max-lora-rank", str(MAX_LORA_RANK), "--max-loras", "4"]
    shipped = [n for n in dict.fromkeys((settings.adapter, settings.hybrid_adapter)) if n
               and (Path(settings.adapters_dir) / n / "adapter_config.json").is_file()]
    if shipped:
        argv += ["--lora-modules", *(f"{n}={Path(settings.adapters_dir, n).resolve()}" for n in shipped)]
    cores = os.cpu_count() or 1
    env = dict(os.environ, VLLM_ALLOW_RUNTIME_LORA_UPDATING="True",
               VLLM_CPU_OMP_THREADS_BIND=os.environ.get("VLLM_CPU_OMP_THREADS_BIND", f"0-{cores - 1}"),
               VLLM_CPU_KVCACHE_SPACE=os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"))
    return argv, env


def start_server(port: int, log: Path, timeout_s: float = 600) -> tuple[subprocess.Popen, str]:
    """`python -m backends vllm` (what `make vllm` runs) in a process group of its own, waited for until
    it lists its models; returns the process and the base URL to set as the server setting."""
    import httpx
    with Path(log).open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "backends", "vllm", "--port", str(port)], cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The vLLM server ended at start:\n{Path(log).read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(2)
    stop_server(process)
    raise RuntimeError(f"The vLLM server did not start in {timeout_s:.0f} s:\n{Path(log).read_text()[-3000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """Ends the server and the engine processes it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
