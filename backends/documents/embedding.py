"""Sentence embeddings for a mean-pooling sentence-transformers model folder, on transformers alone.

all-MiniLM-L6-v2 is a BERT encoder, mean pooling over its tokens and an L2 normalisation. Computed
here as sentence-transformers computes it (same truncation, same length-sorted batches), the vectors
are the same (a question's bit for bit; the sample corpus's 73 chunks at most 1.5e-8 apart, where
ties in length batch differently), without importing sentence-transformers, which pulls in scikit-learn and
SciPy: about 100 MB of a served app's memory for nothing the playground uses. A model folder of
another shape (CLS or max pooling, extra dense layers) or a hub id goes to sentence-transformers.
"""
from __future__ import annotations

import json
from pathlib import Path


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
