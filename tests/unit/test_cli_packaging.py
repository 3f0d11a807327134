"""The project's packaging installs the `scheduled-sends` command (`pipx install .`): the console script names a
callable, and every package it needs at run time - its own and each of the layer's subpackages - is listed."""

from __future__ import annotations

import importlib
import tomllib

from tests.support import ROOT


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_console_script_names_the_tools_main() -> None:
    target = _project()["project"]["scripts"]["scheduled-sends"]
    module, attribute = target.split(":")
    assert callable(getattr(importlib.import_module(module), attribute))


def test_every_package_on_disk_is_in_the_distribution() -> None:
    setuptools = _project()["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    layer = ROOT / setuptools["package-dir"]["scheduled_sends"]
    on_disk = {"scheduled_sends"} | {
        "scheduled_sends." + ".".join(init.parent.relative_to(layer).parts)
        for init in layer.rglob("__init__.py")
        if init.parent != layer
    }
    on_disk |= {"scheduled_sends_cli"} | {
        "scheduled_sends_cli." + ".".join(init.parent.relative_to(ROOT / "scheduled_sends_cli").parts)
        for init in (ROOT / "scheduled_sends_cli").rglob("__init__.py")
        if init.parent != ROOT / "scheduled_sends_cli"
    }
    assert on_disk <= listed, on_disk - listed


def test_runtime_dependencies_cover_what_the_tool_imports() -> None:
    names = {d.split(">")[0].split("=")[0].strip().lower() for d in _project()["project"]["dependencies"]}
    assert {"boto3", "botocore", "urllib3"} <= names
