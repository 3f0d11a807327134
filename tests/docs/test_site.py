"""The documentation site builds with --strict (a broken link, a missing page or snippet fails), its generated
parts equal what `make docs-gen` would write now, and the README stays short and keeps its two commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from docs_gen.render import GENERATED, render_all
from tests.support import ROOT


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # material's end-of-life banner, not a finding
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").exists()
    assert "WARNING" not in result.stderr, result.stderr[-4000:]


@pytest.mark.parametrize("name", sorted(render_all()))
def test_generated_page_is_current(name: str) -> None:
    path = GENERATED / name
    assert path.exists(), f"{path} is missing: run make docs-gen"
    assert path.read_text() == render_all()[name], f"{path} is stale: run make docs-gen"


def test_every_template_parameter_is_documented() -> None:
    from local.template import load_template

    page = (GENERATED / "parameters.md").read_text()
    for name in load_template()["Parameters"]:
        assert f"| `{name}` |" in page, name


def test_every_event_schema_is_documented() -> None:
    page = (GENERATED / "events.md").read_text()
    for schema in (ROOT / "schemas" / "events").glob("*.schema.json"):
        title = re.search(r'"title": "([^"]+)"', schema.read_text()).group(1)
        assert f"### {title}" in page, title


def test_the_readme_is_short_and_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "make run" in readme
    assert "make test" in readme


def test_every_shell_block_of_the_docs_parses() -> None:
    """The commands for a deployed stack cannot run here; they are at least valid shell (bash -n)."""
    pages = [p for p in (ROOT / "docs").rglob("*.md") if "generated" not in p.parts] + [ROOT / "README.md"]
    blocks = [(page, block) for page in pages for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S)]
    assert len(blocks) > 10
    for page, block in blocks:
        result = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, (page, result.stderr, block[:300])


def test_a_page_the_nav_does_not_name_joins_its_folders_section(tmp_path) -> None:
    from docs_gen.mkdocs_hooks import on_config

    for page in ("index.md", "design/decisions/0001-a.md", "design/decisions/0002-b.md", "generated/x.md"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text("# t\n")
    decisions = ["design/decisions/0001-a.md"]
    nav = [{"Home": "index.md"}, {"Design": [{"Decisions": decisions}]}]

    on_config({"nav": nav, "docs_dir": str(tmp_path)})

    assert decisions == ["design/decisions/0001-a.md", "design/decisions/0002-b.md"]
    assert nav[0] == {"Home": "index.md"} and len(nav) == 2  # generated/ stays out, nothing else moved
