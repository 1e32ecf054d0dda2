"""RAG vs fine-tuning: the logic behind the playground. Nothing here imports streamlit.

Grouped by what a user would name: `documents` (the corpus, its edits, the index), `model` (weights,
engine, lean decoder, adapters), `training` and `evaluation`; the columns themselves are `builtin`
backends in one `registry`, and `playground` puts a question through them.
"""
from .answers import Answer, Provenance, Source, Timings
from .documents import (
    PREPARED_EDITS,
    Corpus,
    Document,
    Embedder,
    Index,
    IndexUnavailable,
    PolicyEdit,
    apply_edit,
    get_edit,
    open_store,
)
from .knowledge import KnowledgeBase
from .loading import load_engine, load_knowledge_parts
from .model import Engine, Prompt
from .playground import Playground, check_question
from .registry import Backend, backend_names, get_backend, register, unregister
from .settings import Settings

__all__ = [
    "Answer", "Backend", "Corpus", "Document", "Embedder", "Engine", "Index", "IndexUnavailable", "KnowledgeBase",
    "PREPARED_EDITS", "Playground", "PolicyEdit", "Prompt", "Provenance", "Settings", "Source", "Timings",
    "apply_edit", "backend_names", "check_question", "get_backend", "get_edit", "load_engine", "load_knowledge_parts",
    "open_store", "register", "unregister",
]
