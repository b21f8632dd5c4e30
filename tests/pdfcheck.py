"""Reading exported PDFs back: their text (pdftotext), where each word sits (pdftotext -bbox), the record
attached inside (pypdf), the PDF/A identification, and page 1 as an image for the test artifacts."""

from __future__ import annotations

import html
import io
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)


@dataclass
class Pdf:
    raw: bytes
    pages: list[str]  # the text of each page (pdftotext, reading order)
    words: list[list[tuple[float, float, float, float, str]]]
    sizes: list[tuple[float, float]]

    @property
    def text(self) -> str:
        return "\n".join(self.pages)

    @property
    def flat(self) -> str:
        """All the text, whitespace collapsed (lines wrap wherever the layout wraps them)."""
        return " ".join(self.text.split())

    def attachments(self) -> dict[str, bytes]:
        reader = PdfReader(io.BytesIO(self.raw))
        return {name: contents[0] for name, contents in reader.attachments.items()}

    def outline(self) -> list[str]:
        """The PDF's bookmarks (WeasyPrint makes one per HTML heading), in order."""
        reader = PdfReader(io.BytesIO(self.raw))

        def walk(items):
            for item in items:
                if isinstance(item, list):
                    yield from walk(item)
                else:
                    yield item.title

        return list(walk(reader.outline))


def _run(args: list[str], data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(data)
        handle.flush()
        return subprocess.run([*args, handle.name, "-"], check=True, capture_output=True).stdout.decode()


def read_pdf(data: bytes) -> Pdf:
    assert data.startswith(b"%PDF-"), data[:20]
    pages = _run(["pdftotext", "-enc", "UTF-8"], data).split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    bbox = _run(["pdftotext", "-bbox", "-enc", "UTF-8"], data)
    words, sizes = [], []
    for width, height, body in PAGE.findall(bbox):
        sizes.append((float(width), float(height)))
        words.append(
            [(float(a), float(b), float(c), float(d), html.unescape(t)) for a, b, c, d, t in WORD.findall(body)]
        )
    return Pdf(raw=data, pages=pages, words=words, sizes=sizes)


def assert_sound_layout(pdf: Pdf, *, footer: tuple[str, ...]) -> None:
    """Every page has text, every word lies inside the page, and every page carries the footer and its
    number ("Page i of n")."""
    assert pdf.words, "no pages"
    count = len(pdf.words)
    for index, (words, (width, height)) in enumerate(zip(pdf.words, pdf.sizes, strict=True), start=1):
        body = [w for w in words if w[1] < height - 60]
        assert body, f"page {index} of {count} is empty"
        for x_min, y_min, x_max, y_max, text in words:
            assert x_min >= 0 and y_min >= 0 and x_max <= width + 0.5 and y_max <= height + 0.5, (
                f"{text!r} on page {index} lies outside the page ({x_min:.0f},{y_min:.0f})-({x_max:.0f},{y_max:.0f})"
            )
        page_text = " ".join(pdf.pages[index - 1].split())
        assert f"Page {index} of {count}" in page_text, f"page {index} has no page number"
        for part in footer:
            assert part in page_text, f"page {index} lacks {part!r} in its footer"


def assert_pdfa(pdf: Pdf) -> None:
    reader = PdfReader(io.BytesIO(pdf.raw))
    xmp = reader.xmp_metadata
    assert xmp is not None, "no XMP metadata"
    xml = xmp.stream.get_data().decode()
    assert re.search(r"pdfaid:part(=\"|>)3", xml) and re.search(r"pdfaid:conformance(=\"|>)B", xml), xml


def save_page_one(data: bytes, name: str) -> Path:
    """Page 1 as a PNG under test-artifacts/ (to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name.removesuffix(".png")
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(data)
        handle.flush()
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", handle.name, str(target)], check=True
        )
    return target.with_name(target.name + ".png")
