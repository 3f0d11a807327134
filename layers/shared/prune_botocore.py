"""Remove from a botocore data directory every service model not listed in a services file (the layer's build,
layers/shared/Makefile; `make bench` models the layer with it too). Usage: prune_botocore.py SERVICES DATA_DIR

The files at the data directory's root (endpoints, partitions, retry and default configuration) stay."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def listed_services(services_file: Path) -> set[str]:
    """The service names of a services file: one per line, `#` starts a comment."""
    lines = (line.split("#", 1)[0].strip() for line in services_file.read_text().splitlines())
    return {line for line in lines if line}


def prune(data_dir: Path, keep: set[str]) -> None:
    """Remove every service directory of `data_dir` not in `keep`. Refuses to keep a service botocore does not
    have (a typo would otherwise only show at the first call on Lambda)."""
    present = {entry.name for entry in data_dir.iterdir() if entry.is_dir()}
    if not keep <= present:
        raise SystemExit(f"not in {data_dir}: {', '.join(sorted(keep - present))}")
    for name in present - keep:
        shutil.rmtree(data_dir / name)


if __name__ == "__main__":
    prune(Path(sys.argv[2]), listed_services(Path(sys.argv[1])))
