"""The project's files stand on their own: no file refers a reader to documents outside the repository (the design
notes, references and help pages the team kept beside it), and every relative link of every Markdown file
points at a file of the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared|\bshared/(seed|reference|hooks)|DESIGN(\.md| §)|CONVENTIONS\.md|"
                     r"reliability(\.md| §)|\breference/[a-z-]+\.md|seed/lead-detail")
SKIP = ("deploy/k8s/schemas/", "tests/docs/schemas/", "docs/openapi/", "docs/screenshots/")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _tracked() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    return [ROOT / n for n in names if not n.startswith(SKIP) and (ROOT / n).is_file()]


def test_no_file_points_outside_the_repository() -> None:
    found = []
    for path in _tracked():
        if path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}"
                  for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "\n".join(found)


def test_every_relative_markdown_link_resolves() -> None:
    broken = []
    for path in (p for p in _tracked() if p.suffix == ".md"):
        for target in LINK.findall(path.read_text()):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} → {target}")
    assert not broken, broken


def test_the_readme_links_the_architecture() -> None:
    assert "](docs/ARCHITECTURE.md)" in (ROOT / "README.md").read_text()
