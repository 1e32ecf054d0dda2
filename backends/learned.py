"""What an adapter learned, read from its manifest, said in words beside the documents a session has."""
from __future__ import annotations

from dataclasses import dataclass

from .documents.corpus import Corpus, shipped_sample
from .model.adapters import AdapterInfo


def shipped_sample_version() -> str:
    """The corpus version of the Larkspur sample as shipped, which the shipped adapter learned."""
    return shipped_sample().original_version


@dataclass(frozen=True)
class Learned:
    """The documents an adapter learned, read from its manifest: each one's name and text digest."""
    corpus_version: str | None
    documents: dict[str, tuple[str, str]]  # doc_id -> (its file name, else its title; its text's digest)

    @classmethod
    def of(cls, info: AdapterInfo) -> "Learned":
        entries = info.manifest.get("documents")
        if isinstance(entries, list):
            return cls(info.corpus_version, {d["id"]: (d.get("file") or d.get("title") or d["id"], d["digest"])
                                             for d in entries if isinstance(d, dict) and "id" in d and "digest" in d})
        if info.corpus_version == shipped_sample_version():  # the shipped adapter's manifest predates the list
            return cls(info.corpus_version,
                       {d.doc_id: (d.title, d.digest) for d in shipped_sample().documents.values()})
        return cls(info.corpus_version, {})

    @property
    def words(self) -> str:
        """What it learned, in words: the shipped documents, the files it was trained with, or a corpus version."""
        if self.corpus_version == shipped_sample_version():
            return "the shipped documents"
        sample = {d.doc_id: d.digest for d in shipped_sample().documents.values()}
        with_sample = all(self.documents.get(d, ("", ""))[1] == digest for d, digest in sample.items())
        names = [name for d, (name, _) in self.documents.items() if not (with_sample and d in sample)]
        if with_sample:  # the user's files beside the sample as shipped
            return "the shipped documents" + (f" and {listed(names)}" if names else "")
        return listed(names) if names else f"corpus {self.corpus_version}"

    def since(self, corpus: Corpus) -> str:
        """How these documents differ from what it learned, in words ("" where they do not, or it cannot tell).
        A document it learned that these lack is "not among these documents": this session may never have
        had it (another session, a restart), so nobody is told they removed it."""
        if not self.documents:
            return ""
        both = [d for d in corpus.documents if d in self.documents]
        if not both:
            return "these are other documents"
        changed = [corpus.get(d).title for d in both if corpus.get(d).digest != self.documents[d][1]]
        added = [corpus.get(d).title for d in corpus.documents if d not in self.documents]
        removed = [name for d, (name, _) in self.documents.items() if d not in corpus.documents]
        parts = [f"since then {listed(changed)} changed" if changed else "",
                 f"it never saw {listed(added)}" if added else "",
                 f"{listed(removed)} {'is' if len(removed) == 1 else 'are'} not among these documents"
                 if removed else ""]
        return "; ".join(filter(None, parts))

    def knows_any_of(self, doc_ids) -> bool:
        return any(d in self.documents for d in doc_ids)


def listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def trained_on(info: AdapterInfo) -> str:
    """What an adapter was trained on, in words: the pairs of the user's own where it learned those (its
    manifest's `data`: "41 pairs from pairs.csv"), and the documents it read passages from."""
    words = Learned.of(info).words
    data = info.manifest.get("data")
    if isinstance(data, str) and data.strip() and data != "the shipped Larkspur answers":
        return f"{data}, reading passages of {words}"
    return words
