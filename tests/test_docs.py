"""The README is a door, the docs the house: README.md stays within 12 KB, and every relative link in it and in
docs/ leads to a file that exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(page):
    return re.sub(r"```.*?```", "", page.read_text(), flags=re.S)   # code blocks hold no links or headings


def links(page, anchors=False):
    """Relative link targets of a markdown page (web links and same-page anchors left out); with anchors, the
    (file, anchor) pairs of the links that have one."""
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        name, _, anchor = target.partition("#")
        if not anchors:
            yield name
        elif anchor:
            yield name, anchor


def slugs(page):
    """The anchors GitHub gives a page's headings."""
    heads = re.findall(r"^#+ (.*)$", prose(page), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_the_readme_is_short():
    assert (ROOT / "README.md").stat().st_size <= 12 * 1024


def test_the_docs_are_there():
    names = {p.name for p in PAGES if p.parent.name == "docs"}
    assert {"README.md", "playing.md", "osc.md", "performance.md", "testing.md"} <= names


def test_every_relative_link_leads_to_a_file():
    broken = [f"{page.relative_to(ROOT)}: {target}" for page in PAGES for target in links(page)
              if not (page.parent / target).resolve().exists()]
    assert not broken, broken


def test_every_anchor_names_a_heading():
    broken = [f"{page.relative_to(ROOT)}: {name}#{anchor}" for page in PAGES for name, anchor in links(page, True)
              if (page.parent / name).exists() and anchor not in slugs(page.parent / name)]
    assert not broken, broken


def test_the_link_check_sees_links():
    targets = set(links(ROOT / "README.md"))
    assert "docs/osc.md" in targets and "docs/reference.md" in targets
    assert "../models/default/README.md" in set(links(ROOT / "docs" / "model.md"))
    assert ("performance.md", "horizon") in set(links(ROOT / "docs" / "architecture.md", True))
