"""Training a LoRA adapter: the Larkspur recipe behind `make adapter`."""
from .recipe import DATA_DIR, Example, TrainingConfig, build_examples, data_hash, read_jsonl, train_adapter

__all__ = ["DATA_DIR", "Example", "TrainingConfig", "build_examples", "data_hash", "read_jsonl", "train_adapter"]
