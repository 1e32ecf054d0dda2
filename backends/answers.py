"""What a backend gives back: the answer's text with its sources, timings and provenance."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Source:
    doc_id: str
    title: str
    version: int
    score: float
    text: str
    highlights: tuple[str, ...] = ()   # its sentences nearest the question, which the grounded prompt quotes


@dataclass
class Timings:
    retrieval_ms: float = 0.0
    prompt_tokens: int = 0
    ttft_ms: float = 0.0
    generation_ms: float = 0.0
    new_tokens: int = 0
    total_ms: float = 0.0


@dataclass(frozen=True)
class Provenance:
    model: str
    adapter: str | None = None
    adapter_corpus_version: str | None = None
    index_corpus_version: str | None = None
    adapter_learned: str | None = None  # what the adapter learned, in words: "the shipped documents", "bikeshop.md"
    changed_since: str = ""             # how the documents asked differ from those, in words

    @property
    def stale(self) -> bool:
        """The adapter learned an older corpus than the one the index now holds."""
        return bool(self.adapter_corpus_version and self.index_corpus_version
                    and self.adapter_corpus_version != self.index_corpus_version)


@dataclass
class Answer:
    backend: str
    text: str
    sources: list[Source] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    provenance: Provenance | None = None
    note: str = ""   # a plain remark the user should see, such as a fallback
    error: str = ""  # set when this backend could not answer; text is then empty
    cut_at_limit: bool = False  # the answer reached max_new_tokens before it ended: it stops mid-way

    @property
    def stale(self) -> bool:
        """Answered from an adapter's memory of an older corpus than the documents now say (no retrieval)."""
        return bool(self.provenance and self.provenance.stale and not self.sources)

    def to_dict(self) -> dict:
        return asdict(self) | {"stale": self.stale}
