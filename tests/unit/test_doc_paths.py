"""Every file a document points at exists: relative links, and the `package/module.py`
paths the docs name for where a rule lives (docs/architecture.md above all). A module
moved without its docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([*ROOT.glob("docs/**/*.md"), ROOT / "README.md", ROOT / "CHANGELOG.md"])
LINK = re.compile(r"\]\(([^)#\s]+)")
MODULE = re.compile(
    r"`((?:events|aggregates|projections|infra|consumers|services|tests)/[\w/.-]+?\.py)`"
)


def test_every_link_and_module_path_in_the_docs_exists() -> None:
    missing = []
    for doc in DOCUMENTS:
        text = doc.read_text()
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(ROOT)}: link {target}")
        for module in MODULE.findall(text):
            if not (ROOT / module).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {module}")
    assert missing == []
    assert len(DOCUMENTS) > 10
