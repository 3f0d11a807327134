"""Finding the SAM CLI, cfn-lint and a python3.13 for `sam build`, the way the Makefile does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM = ROOT / ".venv-sam" / "bin" / "sam"


def python313_dir() -> str | None:
    try:
        found = subprocess.run(
            ["pyenv", "which", "python3.13"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYENV_VERSION": "3.13.0"},
        )
        if found.returncode == 0:
            return str(Path(found.stdout.strip()).parent)
    except FileNotFoundError:
        pass
    direct = shutil.which("python3.13")
    return str(Path(direct).parent) if direct else None


def tool_environment() -> dict[str, str]:
    path = [str(SAM.parent)]
    py313 = python313_dir()
    if py313:
        path.append(py313)
    return {**os.environ, "PATH": os.pathsep.join([*path, os.environ.get("PATH", "")]), "SAM_CLI_TELEMETRY": "0"}


def run(*command: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, env=tool_environment(), timeout=timeout
    )
