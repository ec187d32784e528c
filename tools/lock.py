"""Refresh constraints.txt: the tested version of every package btfarm installs.

pyproject.toml keeps open ranges for library users; constraints.txt pins what
CI and the README's install line use, so a release published yesterday cannot
turn a green suite red. Run it from the repository root:

    python tools/lock.py            # resolve afresh into a throwaway venv, write constraints.txt

then run the whole suite on the new pins (``bash .ci/run``) before committing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = "dev,docs,bench"  # every extra CI or a developer installs
HEADER = f"""\
# Tested versions of everything `pip install -e ".[{EXTRAS}]"` brings in.
# Used by .ci/run and the README's install line (pip install ... -c constraints.txt).
# Made by `python tools/lock.py`; do not edit by hand. pyproject.toml keeps open ranges.
"""


def resolve() -> list[str]:
    """Install btfarm with its extras into a new venv and return its ``pip freeze`` lines."""
    with tempfile.TemporaryDirectory(prefix="btfarm-lock-") as tmp:
        venv.create(tmp, with_pip=True)
        python = str(Path(tmp) / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{EXTRAS}]"], check=True
        )
        frozen = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude-editable"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    # btfarm itself is the editable install; a constraint on it would pin the checkout's own version
    return sorted(
        (line for line in frozen.splitlines() if line and not line.lower().startswith("btfarm")),
        key=str.lower,
    )


def main() -> int:
    lines = resolve()
    (ROOT / "constraints.txt").write_text(HEADER + "\n".join(lines) + "\n")
    print(
        f"constraints.txt: {len(lines)} pinned packages; now run `bash .ci/run` before committing"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
