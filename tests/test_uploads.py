"""A user's own files: converted by real libraries, indexed into the session, every bad file explained."""
import pytest

from backends import get_backend
from backends.documents.convert import ConversionError, convert, doc_id_for
from tests import documents_for_tests as make

MB = 20_000_000
BIKESHOP = b"# Pedalworks Bike Hire\n\n## How long can I keep a bike?\n\nUp to 10 days.\n"


def test_each_format_becomes_markdown_with_its_headings():
    pdf = convert("warranty.pdf", make.pdf(["Oakridge Bikes warranty", "Frames carry a 7-year warranty."]), MB)
    assert "7-year warranty" in pdf.text and pdf.doc_id == "warranty"
    word = convert("Handbook 2026.docx", make.docx("Staff handbook", {"Leave": "Staff get 27 days of leave."}), MB)
    assert word.text.startswith("# Staff handbook") and "## Leave" in word.text and word.doc_id == "handbook-2026"
    slides = convert("deck.pptx", make.pptx({"Returns": "Returns take 9 days."}), MB)
    assert "## Returns" in slides.text and "9 days" in slides.text
    page = convert("page.html", b"<html><head><script>alert('x')</script><style>p{}</style></head><body>"
                   b"<h1>Policy</h1><p>Refunds in <b>6 days</b>.</p><ul><li>No fees</li></ul></body></html>", MB)
    assert page.text == "# Policy\n\nRefunds in 6 days .\n\n- No fees" or page.text.startswith("# Policy")
    assert "alert" not in page.text and "<" not in page.text and "6 days" in page.text


@pytest.mark.parametrize("data, decoded", [("Café hours: 9–5".encode("cp1252"), "Café hours: 9–5"),
                                           ("Café hours: 9–5".encode("utf-16"), "Café hours: 9–5"),
                                           ("\ufeffCafé hours".encode("utf-8"), "Café hours")])
def test_text_in_latin_1_or_utf_16_is_read_as_written(data, decoded):
    assert convert("notes.txt", data, MB).text == decoded


@pytest.mark.parametrize("name, data, message", [
    ("empty.md", b"", "empty.md is empty"),
    ("big.txt", b"x" * 2_000_001, "big.txt is 2.0 MB, over the 2 MB limit"),
    ("photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "photo.pdf: it is not a PDF"),
    ("broken.pdf", make.pdf(["Some text here."])[:300], "broken.pdf could not be read as PDF"),
    ("locked.pdf", make.pdf(["Secret figures."], password="s3cret"), "locked.pdf: it is encrypted with a password"),
    ("scan.pdf", make.scanned_pdf(), "scan.pdf: no text found; it may be a scan"),
    ("fake.docx", make.zip_of_other_things(), "fake.docx: it is not a Word document"),
    ("spaces.md", "\u200b\u200b \u200b".encode(), "spaces.md: no text found"),
    ("tool.exe", b"MZ\x90\x00", "tool.exe: .exe is not a supported type"),
    ("binary.txt", b"\x00\x01\x02\x03" * 10, "binary.txt: it looks like a binary file"),
])
def test_a_bad_file_gets_a_message_naming_it(name, data, message):
    with pytest.raises(ConversionError, match=None) as caught:
        convert(name, data, 2_000_000)
    assert message in str(caught.value), str(caught.value)


def test_a_file_name_with_path_parts_decides_nothing():
    assert doc_id_for("../../etc/passwd.md") == "passwd"
    assert doc_id_for("..\\..\\x.md") == "x" and doc_id_for("☃.md") == "document"
    assert convert("../../x.md", b"# X\n\nText.", MB).name == "x.md"


def test_uploads_join_the_session_and_bad_files_leave_the_rest_intact(kb, settings):
    shipped = set(kb.corpus.documents)
    results = kb.add_files([("warranty.pdf", make.pdf([make.POLICY, "Frames carry a 7-year warranty."])),
                            ("broken.pdf", b"%PDF-1.4 garbage"),
                            ("handbook.docx", make.docx("Handbook", {"Leave": "Staff get 27 days of leave."}))],
                           settings)
    assert [bool(r.error) for r in results] == [False, True, False]
    assert "broken.pdf" in results[1].error and results[0].chunks >= 1 and results[0].chars > 20
    assert set(kb.corpus.documents) == shipped | {"warranty-pdf", "handbook"}  # the sample has a warranty.md
    assert kb.corpus.get("warranty").text == kb.corpus.original["warranty"]  # which is untouched
    sources, _ = kb.index.retrieve("How long is the Oakridge frame warranty?", 3)
    assert sources[0].doc_id == "warranty-pdf" and "7-year" in sources[0].text


def test_uploading_a_changed_pdf_again_replaces_it_embedding_only_what_changed(kb, settings):
    lines = [f"Section {n}. " + "Riders must check tyre pressure weekly. " * 6 for n in range(6)]
    first = kb.add_files([("rules.pdf", make.pdf(lines + ["Helmets are loaned for 3 days."]))], settings)[0]
    again = kb.add_files([("rules.pdf", make.pdf(lines + ["Helmets are loaned for 5 days."]))], settings)[0]
    assert not first.error and not again.error and again.replaced
    assert first.added == first.chunks and 0 < again.added < again.chunks  # only the changed chunk is new
    texts = " ".join(s.text for s in kb.index.retrieve("How long are helmets loaned?", 10)[0])
    assert "5 days" in texts and "3 days" not in texts
    assert kb.corpus.get("rules").version == 2 and kb.index.count() == len(kb.index.points_of("rules")) + sum(
        len(kb.index.points_of(d)) for d in kb.corpus.documents if d != "rules")


def test_the_session_can_answer_from_its_own_documents_only_and_remove_one(kb, settings):
    with pytest.raises(ValueError, match="Upload a document of your own first"):
        kb.use_sample(False)
    kb.add_files([("warranty.pdf", make.pdf([make.POLICY, "Frames carry a 7-year warranty."]))], settings)
    kb.use_sample(False)
    assert list(kb.corpus.documents) == ["warranty-pdf"]
    assert {s.doc_id for s in kb.index.retrieve("How long do I have to return something?", 3)[0]} == {"warranty-pdf"}
    with pytest.raises(ValueError, match="only document left"):
        kb.remove_document("warranty-pdf")
    kb.use_sample(True)
    assert "returns-and-refunds" in kb.corpus.documents and kb.index.points_of("returns-and-refunds")
    kb.remove_document("warranty-pdf")
    assert "warranty-pdf" not in kb.corpus.documents and not kb.index.points_of("warranty-pdf")


def test_the_grounded_prompt_reads_a_users_document_as_theirs(kb, settings):
    """Sources cite the file; the prompt labels a passage with its heading alone (the model copied
    "Heading (file.md)" into answers), and its instruction names Larkspur only over Larkspur's documents."""
    kb.add_files([("bikeshop.md", BIKESHOP)], settings)
    kb.use_sample(False)
    rag = get_backend("RAG")
    sources = kb.index.retrieve("How long can I keep a bike?", 3)[0]
    system, user = (m["content"] for m in rag.messages("How long can I keep a bike?", sources))
    assert sources[0].title == "Pedalworks Bike Hire (bikeshop.md)"
    assert "Pedalworks Bike Hire: " in user and "bikeshop.md" not in user and "Larkspur" not in system
    assert rag.twin_messages("How long can I keep a bike?", sources)[0]["content"] == system  # the twin's the same
    kb.use_sample(True)
    sample = kb.index.retrieve("How long do I have to return something?", 3)[0]
    assert "Larkspur" in rag.messages("How long do I have to return something?", sample)[0]["content"]


def test_session_limits_refuse_a_file_and_keep_the_rest(kb, settings):
    tight = settings.with_(max_documents=1)
    results = kb.add_files([("a.md", b"# A\n\nFirst."), ("b.md", b"# B\n\nSecond.")], tight)
    assert not results[0].error and "limit" in results[1].error and "b.md" in results[1].error
    assert "a" in kb.corpus.documents and "b" not in kb.corpus.documents


def test_two_sessions_never_see_each_others_uploads(settings, knowledge_parts):
    from backends import KnowledgeBase
    mine, theirs = (KnowledgeBase.create(settings, *knowledge_parts) for _ in range(2))
    mine.add_files([("warranty.pdf", make.pdf([make.POLICY, "Frames carry a 7-year warranty."]))], settings)
    assert "warranty-pdf" in mine.corpus.documents and "warranty-pdf" not in theirs.corpus.documents
    assert all(s.doc_id != "warranty-pdf" for s in theirs.index.retrieve("Oakridge frame warranty years", 10)[0])


def test_hybrid_says_whether_its_passages_are_the_users_when_its_adapter_never_learned_them(kb, settings, playground):
    kb.add_files([("bikeshop.md", BIKESHOP)], settings)
    own, = playground.ask("How long can I keep a bike?", kb, ["Hybrid"], max_new_tokens=2)
    mine = sum(s.doc_id == "bikeshop" for s in own.sources)  # the upload's one chunk, and the sample's nearest
    assert own.sources[0].doc_id == "bikeshop" and own.note.endswith(
        f"not on your documents; {mine} of its {len(own.sources)} passages is from your documents.")
    theirs, = playground.ask("How long do I have to return something?", kb, ["Hybrid"], max_new_tokens=2)
    assert "bikeshop" not in {s.doc_id for s in theirs.sources}  # the sample's passages, kept beside the upload
    assert theirs.note.endswith("not on your documents; none of its passages is from your documents either.")
    kb.use_sample(False)
    alone, = playground.ask("How long can I keep a bike?", kb, ["Hybrid"], max_new_tokens=2)
    assert alone.note.endswith("not on your documents; the passages are yours.")


def test_a_prompt_without_passages_names_larkspur_only_over_larkspurs_documents_alone(kb, settings, playground,
                                                                                      monkeypatch):
    """The Base column over a bike shop's documents introduced itself as Larkspur's ("Larkspur Outfitters
    offers a wide range of bikes…"); an adapter is asked under the instruction it learned, and one trained
    on the user's documents learns the one without the name."""
    from backends.registry import NEUTRAL_SYSTEM, SYSTEM
    from backends.training.recipe import build_examples
    asked = []
    generate = playground.engine.generate
    monkeypatch.setattr(playground.engine, "generate",
                        lambda prompts, *a, **k: asked.extend(prompts) or generate(prompts, *a, **k))

    def systems():
        asked.clear()
        playground.ask("How long can I keep a bike?", kb, ["Base", "Fine-tuned"], max_new_tokens=1)
        return [p.messages[0]["content"] for p in asked]
    assert systems() == [SYSTEM, SYSTEM]  # the sample alone
    kb.add_files([("bikeshop.md", BIKESHOP)], settings)
    assert systems() == [NEUTRAL_SYSTEM, SYSTEM]  # Base without the name; the shipped adapter as it learned
    assert "Larkspur" not in NEUTRAL_SYSTEM
    examples = build_examples([{"question": "How long can I keep a bike?", "answer": "Ten days."}], {}, kb, 3, 0)
    assert next(e for e in examples if e.kind == "memory").messages[0]["content"] == NEUTRAL_SYSTEM


def test_setting_the_sample_aside_and_back_keeps_a_policy_edit(kb, settings):
    from backends.documents.edits import get_edit
    kb.add_files([("bikeshop.md", BIKESHOP)], settings)
    kb.apply_edit(get_edit("refund-window"))
    edited = kb.corpus.version
    kb.use_sample(False)
    kb.use_sample(True)  # it brought the sample back as shipped: the edit was silently undone
    assert kb.corpus.version == edited and kb.corpus.get("returns-and-refunds").version == 2
    sources, _ = kb.index.retrieve("How long do I have to return something?", 3)
    assert any("14 days" in s.text for s in sources) and not any("30 days" in s.text for s in sources)
    kb.reset()
    kb.use_sample(False)
    kb.use_sample(True)
    assert "30 days" in kb.corpus.get("returns-and-refunds").text
