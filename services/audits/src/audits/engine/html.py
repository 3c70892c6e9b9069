"""Extracts what the checks need from homepage HTML with the stdlib parser (tolerant, no deps)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Final

_FIELD_INPUTS_SKIPPED: Final = frozenset({"hidden", "submit", "button", "reset", "image"})
_INSECURE_ATTRS: Final = {
    "img": "src",
    "script": "src",
    "iframe": "src",
    "audio": "src",
    "video": "src",
    "source": "src",
    "embed": "src",
    "object": "data",
    "track": "src",
}
_CMS_HINTS: Final = (
    ("wp-content", "WordPress"),
    ("cdn.shopify.com", "Shopify"),
    ("wix.com", "Wix"),
    ("squarespace", "Squarespace"),
    ("webflow", "Webflow"),
    ("joomla", "Joomla"),
    ("drupal", "Drupal"),
)
_SPACE: Final = re.compile(r"\s+")


@dataclass
class _Control:
    tag: str
    named: bool
    counted: bool = True
    text: list[str] = field(default_factory=list)


@dataclass
class PageScan:
    """Facts found in one HTML document."""

    lang: str | None = None
    title: str | None = None
    meta_description: str | None = None
    meta_robots: str | None = None
    viewport: str | None = None
    generator: str | None = None
    canonical: str | None = None
    h1_count: int = 0
    images: int = 0
    images_missing_alt: int = 0
    blocking_scripts: int = 0
    form_fields: int = 0
    unlabelled_fields: int = 0
    controls: int = 0
    unnamed_controls: int = 0
    insecure_resources: list[str] = field(default_factory=list)
    social_tags: list[str] = field(default_factory=list)
    cms: str | None = None


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scan = PageScan()
        self._in_head = True
        self._in_title = False
        self._title: list[str] = []
        self._label_depth = 0
        self._label_for: set[str] = set()
        self._field_ids: list[str | None] = []
        self._controls: list[_Control] = []
        self._raw_hints: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        s = self.scan
        if tag == "html" and s.lang is None and a.get("lang", "").strip():
            s.lang = a["lang"].strip()
        elif tag == "body":
            self._in_head = False
        elif tag == "title" and s.title is None:
            self._in_title = True
        elif tag == "meta":
            self._meta(a)
        elif tag == "link":
            rel = a.get("rel", "").lower().split()
            if "canonical" in rel and s.canonical is None:
                s.canonical = a.get("href", "").strip() or None
            if "stylesheet" in rel and a.get("href", "").lower().startswith("http://"):
                s.insecure_resources.append(a["href"][:200])
        elif tag == "h1":
            s.h1_count += 1
        elif tag == "img":
            s.images += 1
            if "alt" not in a and a.get("role") != "presentation":
                s.images_missing_alt += 1
            for control in self._controls:
                if a.get("alt", "").strip():
                    control.named = True
        elif tag == "script" and self._in_head and a.get("src"):
            kind = a.get("type", "").lower()
            if "async" not in a and "defer" not in a and kind != "module":
                s.blocking_scripts += 1
        elif tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self._label_for.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            self._field(tag, a)
        elif tag in ("a", "button"):
            named = bool(a.get("aria-label", "").strip() or a.get("aria-labelledby") or a.get("title", "").strip())
            # An <a> without href is not a link (no focus, no role); it needs no name.
            self._controls.append(_Control(tag=tag, named=named, counted=tag == "button" or "href" in a))
        attr = _INSECURE_ATTRS.get(tag)
        if attr and a.get(attr, "").lower().startswith("http://"):
            s.insecure_resources.append(a[attr][:200])
        for value in (a.get("src", ""), a.get("href", "")):
            if value:
                self._raw_hints.append(value.lower())

    def _meta(self, a: dict[str, str]) -> None:
        s = self.scan
        name = (a.get("name") or a.get("property") or "").lower()
        content = a.get("content", "")
        if name == "description" and s.meta_description is None:
            s.meta_description = _SPACE.sub(" ", content).strip()
        elif name == "robots":
            s.meta_robots = content.lower()
        elif name == "viewport" and s.viewport is None:
            s.viewport = content
        elif name == "generator":
            s.generator = content
        elif name.startswith(("og:", "twitter:")):
            s.social_tags.append(name)

    def _field(self, tag: str, a: dict[str, str]) -> None:
        if tag == "input" and a.get("type", "text").lower() in _FIELD_INPUTS_SKIPPED:
            return
        self.scan.form_fields += 1
        labelled = bool(
            self._label_depth
            or a.get("aria-label", "").strip()
            or a.get("aria-labelledby")
            or a.get("title", "").strip()
        )
        self._field_ids.append(None if labelled else (a.get("id") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.scan.title = _SPACE.sub(" ", "".join(self._title)).strip()
        elif tag == "head":
            self._in_head = False
        elif tag == "label" and self._label_depth:
            self._label_depth -= 1
        elif tag in ("a", "button"):
            for index in range(len(self._controls) - 1, -1, -1):
                if self._controls[index].tag == tag:
                    self._count(self._controls.pop(index))
                    break

    def _count(self, control: _Control) -> None:
        if control.counted:
            self.scan.controls += 1
            if not (control.named or "".join(control.text).strip()):
                self.scan.unnamed_controls += 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        for control in self._controls:
            control.text.append(data)

    def finish(self) -> PageScan:
        self.close()
        for control in self._controls:  # unclosed at end of document
            self._count(control)
        self.scan.unlabelled_fields = sum(
            1 for field_id in self._field_ids if field_id is not None and field_id not in self._label_for
        )
        hints = " ".join(self._raw_hints)
        generator = (self.scan.generator or "").split(" ")[0] or None
        self.scan.cms = generator or next((name for hint, name in _CMS_HINTS if hint in hints), None)
        return self.scan


def scan_html(html: str) -> PageScan:
    """Parse `html` and return the facts the checks use."""
    scanner = _Scanner()
    scanner.feed(html)
    return scanner.finish()


def decode_html(body: bytes, content_type: str) -> str:
    """Decode with the charset from Content-Type or a <meta charset>, else UTF-8 (lenient)."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE) or re.search(
        rb"<meta[^>]+charset=[\"']?([\w.:-]+)".decode(), body[:2048].decode("ascii", "replace"), re.IGNORECASE
    )
    encoding = match.group(1) if match else "utf-8"
    try:
        return body.decode(encoding, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")
