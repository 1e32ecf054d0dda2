"""Files of a made-up policy, written by the real libraries each format's users use, never checked in."""
from __future__ import annotations

import io
import zipfile

POLICY = "Oakridge Bikes warranty"


def pdf(lines: list[str], password: str | None = None) -> bytes:
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    for line in lines:
        doc.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    data = bytes(doc.output())
    if password is None:
        return data
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf() -> bytes:
    """A page with no text layer, as a scanner makes (here: blank)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(title: str, sections: dict[str, str]) -> bytes:
    import docx as python_docx

    doc = python_docx.Document()
    doc.add_heading(title, level=1)
    for heading, text in sections.items():
        doc.add_heading(heading, level=2)
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pptx(slides: dict[str, str]) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for title, body in slides.items():
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def zip_of_other_things() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "not a word document")
    return out.getvalue()
