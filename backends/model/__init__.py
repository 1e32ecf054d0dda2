"""The base model: where its weights come from, the engine that answers with it, the lean decoder, adapters."""
from .adapters import AdapterInfo, AdapterProblem, check_adapter
from .engine import Engine, Generation, Prompt
from .weights import ModelSource, load_embedder, load_generator

__all__ = ["AdapterInfo", "AdapterProblem", "Engine", "Generation", "ModelSource", "Prompt", "check_adapter",
           "load_embedder", "load_generator"]
