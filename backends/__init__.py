"""RAG vs fine-tuning: the logic behind the playground. Nothing here imports streamlit."""
from .answers import Answer, Provenance, Source, Timings
from .corpus import Corpus, Document
from .edits import PREPARED_EDITS, PolicyEdit, apply_edit, get_edit
from .engine import Engine, Prompt
from .index import Embedder, Index, IndexUnavailable, open_store
from .playground import KnowledgeBase, Playground, check_question, load_engine, load_knowledge_parts
from .registry import Backend, backend_names, get_backend, register, unregister
from .settings import Settings

__all__ = [
    "Answer", "Backend", "Corpus", "Document", "Embedder", "Engine", "Index", "IndexUnavailable", "KnowledgeBase",
    "PREPARED_EDITS", "Playground", "PolicyEdit", "Prompt", "Provenance", "Settings", "Source", "Timings",
    "apply_edit", "backend_names", "check_question", "get_backend", "get_edit", "load_engine", "load_knowledge_parts",
    "open_store", "register", "unregister",
]
