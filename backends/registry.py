"""One registry of backends. Built-in backends register through the same call a user's own would."""
from __future__ import annotations

from typing import ClassVar

from .answers import Source

SYSTEM = ("You are the customer assistant of Larkspur Outfitters, an outdoor-gear shop. "
          "Answer the customer's question in one to three short sentences.")
# The same without Larkspur's name, for a session that holds documents of the user's own: the Base column
# over a bike shop's documents should not introduce itself as an outdoor-gear shop's assistant.
NEUTRAL_SYSTEM = "You are a customer assistant. Answer the customer's question in one to three short sentences."


class Backend:
    """A column of the playground: how a question becomes a prompt, and which adapter answers it."""

    name: ClassVar[str]
    description: ClassVar[str]
    uses_retrieval: ClassVar[bool] = False
    adapter_setting: ClassVar[str | None] = None   # the Settings field naming this backend's adapter
    falls_back_to_base: ClassVar[bool] = False     # without its adapter: answer with the base model, or refuse
    system: str = SYSTEM  # the instruction of a prompt without passages; the playground sets it for the documents

    def messages(self, question: str, sources: list[Source]) -> list[dict]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": question}]

    def twin_messages(self, question: str, sources: list[Source] = ()) -> list[dict] | None:
        """The prompt without its passages (`sources`, which the prompt with them quotes), for
        context-aware decoding; None for a column without passages."""
        return None


_REGISTRY: dict[str, type[Backend]] = {}


def register(backend: type[Backend]) -> type[Backend]:
    """Adds a backend class; usable as a decorator. A second class under the same name replaces the first."""
    _REGISTRY[backend.name] = backend
    return backend


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get_backend(name: str) -> Backend:
    """A new instance of the named backend (its `system` set by whoever asks it)."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise KeyError(f"No backend {name!r}; known backends: {', '.join(_REGISTRY)}") from None


def backend_names() -> list[str]:
    return list(_REGISTRY)
