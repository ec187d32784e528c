"""Every fenced ```python block of README.md and docs/ runs as written, or says why it cannot.

A reader copies a block into a file and runs it; so does this test:

- Each block runs in a fresh subprocess (``python FILE``) in its own temporary folder, the
  working directory, which holds a link to the repository's ``examples/`` (so
  ``examples/data/sim-30d-1m.csv`` resolves, as from the repository root) and none of the
  caller's ``BTFARM_*`` variables: reports go to that folder's ``dump/``, the private
  Redis to its ``.btfarm/``. It must exit 0 within ``TIMEOUT_SECONDS`` and leave no
  redis-server running.
- A block whose first line is ``# not runnable: REASON`` is skipped, showing the reason
  (a farm, the network, a placeholder).
- A block whose first line is ``# NAME.py ...`` is that file. It runs as ``python NAME.py``,
  and every block runs beside all such files of README.md and docs/ (saved side by side,
  as a reader would), so ``import my_sweep`` works. One name, one text: the README and
  a guide may show the same file, which then runs once.
- A page holding the line ``<!-- examples: in order -->`` builds up from block to
  block (a tutorial): its block k runs as blocks 1..k of the page, in one file.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
TIMEOUT_SECONDS = 90  # per block; the longest (a walk-forward sweep) takes ~10 s alone
NOT_RUNNABLE = "# not runnable:"
FILE_NAME = re.compile(r"#\s*([A-Za-z_][A-Za-z0-9_]*\.py)\b")
IN_ORDER = "<!-- examples: in order -->"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.text.lstrip("\n").split("\n", 1)[0].strip()

    @property
    def file_name(self) -> str | None:
        """NAME.py when the block says it is that file (its first line ``# NAME.py``)."""
        match = FILE_NAME.match(self.first_line)
        return match.group(1) if match else None


def python_blocks(page: Path) -> list[Block]:
    """The fenced ```python blocks of ``page``, in order (indented fences too)."""
    blocks, lines, i = [], page.read_text().split("\n"), 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, start = len(opening["indent"]), opening["fence"], i
        body, i = [], i + 1
        while i < len(lines) and not lines[i].strip().startswith(fence[:3]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        if opening["lang"] in ("python", "py"):
            blocks.append(Block(page, start + 1, "\n".join(body) + "\n"))
    return blocks


def _cases() -> tuple[list[tuple[Block, str]], dict[str, Block]]:
    """(block, the program that runs it) for each runnable-or-marked block, and the named files."""
    files: dict[str, Block] = {}
    cases, seen = [], set()
    for page in PAGES:
        blocks = python_blocks(page)
        in_order = IN_ORDER in page.read_text()
        for k, block in enumerate(blocks):
            if block.file_name and block.file_name not in files:
                files[block.file_name] = block
            if in_order:
                program = "".join(
                    b.text for b in blocks[: k + 1] if not b.first_line.startswith(NOT_RUNNABLE)
                )
            else:
                program = block.text
            if (block.file_name, program) in seen:
                continue  # the same file shown twice (README and a guide): it runs once
            seen.add((block.file_name, program))
            cases.append((block, program))
    return cases, files


CASES, FILES = _cases()


def _redis_servers_under(folder: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if "redis-server" in (p.info["name"] or "") and str(folder) in " ".join(
                p.info["cmdline"] or ()
            ):
                found.append(p)
    return found


def _run(program: str, name: str, folder: Path) -> subprocess.CompletedProcess:
    (folder / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    for file_name, block in FILES.items():
        (folder / file_name).write_text(block.text)
    (folder / name).write_text(program)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_") and k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, name],
        cwd=folder,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its session: the block's local workers too
        out, _ = process.communicate()
        pytest.fail(f"did not end within {TIMEOUT_SECONDS} s; its output:\n{out[-4000:]}")
    finally:
        leftover = _redis_servers_under(folder)
        for server in leftover:
            with contextlib.suppress(psutil.Error):
                server.kill()
    assert not leftover, f"the block left redis-server running: {[p.pid for p in leftover]}"
    return subprocess.CompletedProcess(process.args, process.returncode, out, None)


@pytest.mark.parametrize(("block", "program"), CASES, ids=[b.where for b, _ in CASES])
def test_block_runs(block: Block, program: str, tmp_path: Path) -> None:
    if block.first_line.startswith(NOT_RUNNABLE):
        reason = block.first_line[len(NOT_RUNNABLE) :].strip()
        assert reason, f"{block.where}: '{NOT_RUNNABLE}' needs a reason after it"
        pytest.skip(f"{block.where}: not runnable: {reason}")
    name = block.file_name or "example.py"
    result = _run(program, name, tmp_path)
    assert result.returncode == 0, (
        f"{block.where} exited {result.returncode} when run as {name}; output:\n{result.stdout[-4000:]}"
    )


def test_one_file_name_one_text() -> None:
    texts: dict[str, dict[str, list[str]]] = {}
    for page in PAGES:
        for block in python_blocks(page):
            if block.file_name:
                texts.setdefault(block.file_name, {}).setdefault(block.text, []).append(block.where)
    differ = {
        name: list(variants.values()) for name, variants in texts.items() if len(variants) > 1
    }
    assert not differ, f"one file shown with different texts (make them equal): {differ}"


def test_every_block_is_found() -> None:
    # the parser must see the blocks a reader sees, or the test above passes vacuously
    fences = sum(len(re.findall(r"^ *```python\s*$", page.read_text(), re.M)) for page in PAGES)
    assert fences == sum(len(python_blocks(page)) for page in PAGES) > 0
