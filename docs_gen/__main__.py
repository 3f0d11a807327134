"""`python -m docs_gen [--check] [--results bench-results.json]`: writes (or checks) docs/generated/*.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from docs_gen.render import GENERATED, RESULTS, adopt_results, render_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a generated file is stale")
    parser.add_argument(
        "--results",
        type=Path,
        help=f"a bench-results.json from `make bench` to publish as the latest figures (copied to {RESULTS})",
    )
    options = parser.parse_args()
    if options.results:
        adopt_results(options.results)
    stale = []
    for name, text in render_all().items():
        path = GENERATED / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not options.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in stale:
        print(f"{'stale' if options.check else 'wrote'}: {path}")
    return 1 if options.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
