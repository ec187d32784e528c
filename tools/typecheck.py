"""Type-check shared/, workers/ and orchestrator/ with mypy, as .ci/run does.

    python tools/typecheck.py

mypy reads pyproject's [tool.mypy]: checked modules must have no error; the modules
listed under "not yet clean" there are the baseline still to be typed (their errors are
not reported). A module leaves that list once it passes.
"""

from __future__ import annotations

import os
import subprocess
import sys

from package_paths import REPO, lay_out


def main() -> int:
    root = lay_out(REPO / "build" / "type-paths")  # build/ is ignored by git
    env = {**os.environ, "MYPYPATH": str(root)}
    packages = [
        arg for name in ("shared", "workers", "orchestrator") for arg in ("-p", f"btfarm.{name}")
    ]
    return subprocess.run(
        [sys.executable, "-m", "mypy", *packages, *sys.argv[1:]], cwd=REPO, env=env
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
