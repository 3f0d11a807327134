"""mkdocs hook (mkdocs.yml `hooks:`): a page under docs/ that the nav does not list is added to the nav section
that lists its folder's other pages, so a new page (a decision record, an operations page) is never left out of the
site, and the nav written in mkdocs.yml keeps its order for the pages it names."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

EXCLUDED = ("generated/", "walkthroughs/", "examples/")


def _listed(nav: list[Any]) -> set[str]:
    paths: set[str] = set()
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            paths |= _listed(value)
        elif isinstance(value, str):
            paths.add(value)
    return paths


def _section_for(nav: list[Any], folder: str) -> list[Any] | None:
    """The deepest nav list that names a page of `folder` (the list itself, to append to)."""
    found = None
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            deeper = _section_for(value, folder)
            if deeper is not None:
                return deeper
        elif isinstance(value, str) and posixpath.dirname(value) == folder:
            found = nav
    return found


def missing_pages(docs_dir: Path, nav: list[Any]) -> list[str]:
    listed = _listed(nav)
    pages = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md"))
    return [p for p in pages if p not in listed and not p.startswith(EXCLUDED)]


def on_config(config: Any) -> Any:
    nav = config["nav"]
    if not nav:
        return config
    for page in missing_pages(Path(config["docs_dir"]), nav):
        section = _section_for(nav, posixpath.dirname(page))
        (section if section is not None else nav).append(page)  # titled by the page's own first heading
    return config
