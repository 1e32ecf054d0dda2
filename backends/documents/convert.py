"""A user's own files as Markdown text: what RAG reads, with headings kept where the format has them.

One well-kept library per format, as several RAG interfaces do by default: pypdf for PDF, python-docx
for Word, python-pptx for PowerPoint, Beautiful Soup for HTML (48 MB installed together, lxml and
Pillow included). Microsoft's markitdown was weighed: its core pulls magika and so onnxruntime, a
larger install for the same libraries underneath. Nothing here writes a file: a file's
name only becomes the document's id and title, so a name like `../../x.md` decides nothing.

Every problem is a ConversionError naming the file, so one bad file among several says so and the
others still go in.
"""
from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

FORMATS = {".md": "Markdown", ".markdown": "Markdown", ".txt": "plain text", ".pdf": "PDF", ".docx": "Word",
           ".html": "HTML", ".htm": "HTML", ".pptx": "PowerPoint"}


class ConversionError(ValueError):
    """A file that cannot become a document, with its name and why."""


@dataclass(frozen=True)
class Converted:
    doc_id: str   # from the file's name: lower case, letters, digits and dashes only
    name: str     # the file's own name, without any folder
    text: str     # Markdown


def doc_id_for(name: str) -> str:
    stem = PurePath(PurePath(name.replace("\\", "/")).name).stem
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug[:80] or "document"


def has_text(text: str) -> bool:
    """Whether text holds anything but whitespace and invisible characters: zero-width spaces, the soft
    hyphen, and every other format character (Unicode's Cf, such as the bidirectional marks U+202A–E)."""
    return any(not c.isspace() and unicodedata.category(c) != "Cf" for c in text)


def convert(name: str, data: bytes, max_bytes: int) -> Converted:
    """The file's text as Markdown; raises ConversionError naming the file."""
    shown = PurePath(name.replace("\\", "/")).name or "unnamed file"
    suffix = PurePath(shown).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(set(FORMATS)))
        raise ConversionError(f"{shown}: {suffix or 'a file without an extension'} is not a supported type ({known}).")
    if not data:
        raise ConversionError(f"{shown} is empty.")
    if len(data) > max_bytes:
        raise ConversionError(f"{shown} is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit.")
    try:
        text = _CONVERTERS[suffix](data)
    except ConversionError as err:
        raise ConversionError(f"{shown}: {err}") from None
    except Exception as err:  # each library raises its own kinds for a damaged file
        raise ConversionError(f"{shown} could not be read as {FORMATS[suffix]} ({type(err).__name__}: {err}).") from err
    text = re.sub(r"\n{3,}", "\n\n", text.replace("\r\n", "\n")).strip()
    if not has_text(text):
        hint = "; it may be a scan (no text layer)" if suffix == ".pdf" else ""
        raise ConversionError(f"{shown}: no text found{hint}.")
    return Converted(doc_id_for(shown), shown, text)


def _text(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), UTF-16 with its mark, else Latin-1's superset cp1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise ConversionError("it looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    if not data.lstrip().startswith(b"%PDF"):
        raise ConversionError("it is not a PDF (no PDF header).")
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            reader.decrypt("")  # many "encrypted" PDFs only restrict printing and open without a password
        except Exception:
            pass
        try:
            reader.pages[0].extract_text()
        except Exception:
            raise ConversionError(
                "it is encrypted with a password; save an unprotected copy and upload that.") from None
    return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)


def _docx(data: bytes) -> str:
    import docx

    if (not zipfile.is_zipfile(io.BytesIO(data))
            or "word/document.xml" not in zipfile.ZipFile(io.BytesIO(data)).namelist()):
        raise ConversionError("it is not a Word document (.docx).")
    lines = []
    for paragraph in docx.Document(io.BytesIO(data)).paragraphs:
        text, style = paragraph.text.strip(), (paragraph.style.name if paragraph.style is not None else "")
        if not text:
            continue
        level = re.fullmatch(r"Heading (\d)", style)
        lines.append(f"{'#' * int(level.group(1))} {text}" if level else ("# " + text if style == "Title" else text))
    return "\n\n".join(lines)


def _pptx(data: bytes) -> str:
    from pptx import Presentation

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ConversionError("it is not a PowerPoint file (.pptx).")
    slides = []
    for number, slide in enumerate(Presentation(io.BytesIO(data)).slides, 1):
        title = slide.shapes.title.text.strip() if slide.shapes.title is not None and slide.shapes.title.text else ""
        body = [shape.text_frame.text.strip() for shape in slide.shapes
                if shape.has_text_frame and shape != slide.shapes.title and shape.text_frame.text.strip()]
        slides.append("\n\n".join([f"## {title or f'Slide {number}'}", *body]))
    return "\n\n".join(slides)


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_text(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "svg"]):
        tag.decompose()  # never text, never rendered
    lines = []
    for element in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre", "blockquote"]):
        if element.find_parent(["p", "li", "td", "th", "pre", "blockquote"]):
            continue  # its text is in its parent's
        text = " ".join(element.get_text(" ", strip=True).split())
        if text:
            lines.append(f"{'#' * int(element.name[1])} {text}" if element.name[0] == "h" else
                         (f"- {text}" if element.name == "li" else text))
    if not lines and soup.body:  # a page of bare text
        lines = [" ".join(soup.body.get_text(" ", strip=True).split())]
    return "\n\n".join(lines)


_CONVERTERS = {".md": _text, ".markdown": _text, ".txt": _text, ".pdf": _pdf, ".docx": _docx, ".pptx": _pptx,
               ".html": _html, ".htm": _html}
