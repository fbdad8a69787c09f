"""Every relative link in the project's Markdown resolves: the file exists and, for a link to a
heading (`page.md#heading`), the page has that heading (GitHub's anchor for it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "models").rglob("*.md"),
                *(ROOT / "src").rglob("*.md")])

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: its text in lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, … as on GitHub."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(page: Path) -> list[str]:
    """The targets of the page's links and images outside code, web addresses left out."""
    text = CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_anchor_follows_github():
    assert anchor("The paper's setting with Adam lr 0.003, validation's choice (2026-12-02)") == \
        "the-papers-setting-with-adam-lr-0003-validations-choice-2026-12-02"
    assert anchor("Choosing μ of the hybrid blend (validation split)") == \
        "choosing-μ-of-the-hybrid-blend-validation-split"
    assert anchor("How fast: `seminpaint` on a CPU") == "how-fast-seminpaint-on-a-cpu"


def broken_links(page: Path) -> list[str]:
    """The page's relative links whose file or heading does not exist."""
    broken = []
    for target in links(page):
        path, _, heading = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif heading and resolved.suffix == ".md" and heading not in anchors(resolved):
            broken.append(f"{target} (no heading with that anchor)")
    return broken


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## How fast\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#how-fast) [file](missing.md) [heading](other.md#how-slow) [self](#top)\n"
                    "`[code](missing.md)`\n\n```\n[fenced](missing.md)\n```\n# Top\n"
                    "[web](https://example.org/missing.md)\n")
    assert broken_links(page) == ["missing.md (no such file)", "other.md#how-slow (no heading with that anchor)"]


def test_the_pages_have_links():
    assert len(PAGES) > 10 and sum(len(links(page)) for page in PAGES) > 100


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_layout_names_every_module_and_folder():
    """The README's layout section matches the tree: each module and package of src/seminpaint, and each
    module of its folders, is named there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("```", layout.index("```") + 3)]
    package = ROOT / "src" / "seminpaint"
    named = {path.name for path in package.glob("*.py") if path.name != "__init__.py"}
    named |= {path.name + "/" for path in package.iterdir() if (path / "__init__.py").is_file()}
    for folder in ("networks", "runtime", "training", "evaluation"):
        named |= {path.name for path in (package / folder).glob("*.py") if path.name != "__init__.py"}
    missing = sorted(name for name in named if not re.search(rf"(?<![\w/]){re.escape(name)}", layout))
    assert not missing, missing
