"""Sentence embeddings: `Embedder`, a cache by text that every session shares, over an encoder.

For a mean-pooling sentence-transformers folder the encoder is `MeanPoolingEncoder`, on transformers
alone. all-MiniLM-L6-v2 is a BERT encoder, mean pooling over its tokens and an L2 normalisation. Computed
here as sentence-transformers computes it (same truncation, same length-sorted batches), the vectors
are the same (a question's bit for bit; the sample corpus's 73 chunks at most 1.5e-8 apart, where
ties in length batch differently), without importing sentence-transformers, which pulls in scikit-learn and
SciPy: about 100 MB of a served app's memory for nothing the playground uses. A model folder of
another shape (CLS or max pooling, extra dense layers) or a hub id goes to sentence-transformers.
"""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from array import array
from pathlib import Path

from ..model.weights import clear_abandoned_writes


class MeanPoolingEncoder:
    """The few methods of SentenceTransformer that the index calls."""

    def __init__(self, folder: Path):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.max_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]

    @staticmethod
    def handles(folder: Path) -> bool:
        try:
            modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
            pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
            (folder / "sentence_bert_config.json").read_text()
        except (OSError, ValueError, KeyError, TypeError):
            return False
        means = [k for k, on in pooling.items() if k.startswith("pooling_mode") and on] == ["pooling_mode_mean_tokens"]
        return modules == ["Transformer", "Pooling", "Normalize"] and means

    def get_embedding_dimension(self) -> int:
        return self.model.config.hidden_size

    def encode(self, texts: list[str], normalize_embeddings: bool = True, batch_size: int = 32):
        import numpy as np
        import torch

        order = np.argsort([-len(t) for t in texts])  # as sentence-transformers batches: longest first
        out = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start:start + batch_size]
                enc = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vectors = (hidden * mask).sum(1) / torch.clamp(mask.sum(1), min=1e-9)
                if normalize_embeddings:
                    vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                for i, vector in zip(rows, vectors.numpy()):
                    out[i] = vector
        return np.stack(out)


class Embedder:
    """Sentence embeddings with a cache by text, shared by all sessions: an unchanged chunk is never
    re-embedded. With a file, the cache outlives the process, so a fresh start indexes the corpus
    without embedding it again (1 s of a 10 s cold start here)."""

    MAX_SAVED = 50_000  # vectors kept on disk; beyond this new ones live in memory only

    def __init__(self, model, label: str = "", saved: Path | None = None):
        self.model, self.label, self.saved = model, label, saved
        if saved:  # a write of the vectors killed part-way leaves its temporary file
            clear_abandoned_writes(saved.parent, f"{saved.stem}.*.tmp")
        self.dimension = model.get_embedding_dimension()
        self._cache: dict[str, array] = self._read(saved)  # float32 arrays: 1.5 KB a vector, not 12 KB of floats
        self._unsaved = False
        self._lock = threading.Lock()

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _read(self, path: Path | None) -> dict:
        try:
            stored = json.loads(path.read_text()) if path else {}
        except (OSError, ValueError):
            return {}  # missing or damaged: embed afresh
        vectors = stored.get("vectors", {}) if stored.get("label") == self.label else {}
        return {k: array("f", v) for k, v in vectors.items() if isinstance(v, list) and len(v) == self.dimension}

    def save(self) -> None:
        """Writes the vectors to the file, if any and if new ones came since the last write."""
        if not self.saved or not self._unsaved or len(self._cache) > self.MAX_SAVED:
            return
        try:
            self.saved.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.saved.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_text(json.dumps({"label": self.label,
                                       "vectors": {k: v.tolist() for k, v in self._cache.items()}}))
            tmp.replace(self.saved)  # a reader never sees half a file
            self._unsaved = False
        except OSError:
            pass  # a read-only cache costs only speed

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Returns the vectors and how many texts had to be embedded afresh."""
        with self._lock:
            keys = [self._key(t) for t in texts]
            missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self._cache))
            if missing:
                vectors = self.model.encode(missing, normalize_embeddings=True, batch_size=32)
                self._cache.update((self._key(t), array("f", v.tobytes()))
                                   for t, v in zip(missing, vectors.astype("float32")))
                self._unsaved = True
            return [self._cache[k].tolist() for k in keys], len(missing)

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self.model.encode([text], normalize_embeddings=True)[0].tolist()
