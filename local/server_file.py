"""`.local-server.json`: where the running `python -m local` of this checkout listens, for the tools that find it
(`scheduled-sends --local`, the token commands) without being told a port.

One file per checkout, so one runner owns it: a second runner started while the first is alive refuses (naming
the first, and how to run a second one anyway) instead of overwriting the file, and a runner only ever deletes
the file while it still names its own process. The format is a JSON object with `url`, `pid` and `auth_mode`;
fields are only ever added.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATE_FILE = ".local-server.json"
ROOT = Path(__file__).resolve().parent.parent


def state_path() -> Path:
    """The repo root's `.local-server.json`, or the file LOCAL_SERVER_STATE names (tests, a second runner)."""
    return Path(os.environ.get("LOCAL_SERVER_STATE") or ROOT / STATE_FILE)


class AlreadyServed(RuntimeError):
    """Another live runner owns the server file."""

    def __init__(self, path: Path, state: dict[str, Any]) -> None:
        super().__init__(f"{path} names a running server (pid {state.get('pid')})")
        self.path, self.state = path, state


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def _read(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def check_free(path: Path | None = None) -> None:
    """Raise AlreadyServed when the file names another process that is still running (a stale file is fine)."""
    path = path or state_path()
    state = _read(path)
    if state is not None and state.get("pid") != os.getpid() and _alive(state.get("pid")):
        raise AlreadyServed(path, state)


def claim(state: dict[str, Any], path: Path | None = None) -> Path:
    """Write `state` (with this process's pid) as the server file; AlreadyServed if a live runner holds it.

    Written whole under another name, then linked into place: a reader never sees half a file, and of two
    runners starting together only one gets the name (os.link fails when it exists)."""
    path = path or state_path()
    check_free(path)
    document = json.dumps({**state, "pid": os.getpid()}) + "\n"
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as draft:
        draft.write(document)
    try:
        for _ in range(2):
            try:
                os.link(draft.name, path)
                return path
            except FileExistsError:
                check_free(path)  # a live owner: refuse; a stale file (its runner died): replace it
                path.unlink(missing_ok=True)
        raise AlreadyServed(path, _read(path) or {})
    finally:
        os.unlink(draft.name)


def release(path: Path | None = None) -> None:
    """Delete the server file if, and only if, it still names this process."""
    path = path or state_path()
    state = _read(path)
    if state is not None and state.get("pid") == os.getpid():
        path.unlink(missing_ok=True)
