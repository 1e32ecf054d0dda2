"""The documents a session answers from, the edits that change them, and the index that follows them."""
from .corpus import Corpus, Document
from .edits import PREPARED_EDITS, PolicyEdit, apply_edit, check_edit, custom_edit, get_edit
from .embedding import Embedder
from .index import Index, IndexUnavailable, SyncReport, open_store

__all__ = ["Corpus", "Document", "Embedder", "Index", "IndexUnavailable", "PREPARED_EDITS", "PolicyEdit", "SyncReport",
           "apply_edit", "check_edit", "custom_edit", "get_edit", "open_store"]
