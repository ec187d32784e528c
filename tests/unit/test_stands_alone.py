"""A fresh clone is all btfarm needs: no file reads or links outside the repository.

The reference data, the semantics and the architecture once lived in a folder beside the
repository; a clone without it could not run the README's first example. These checks keep
every path and link inside.
"""

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# Built from parts so this file does not match itself.
OUTSIDE = ("..", "/shared")
SIBLING = re.compile(re.escape("".join(OUTSIDE)) + r"\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _repository_files() -> list[Path]:
    """The files a clone holds (tracked ones, and new ones git would add), text only."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout ({error}): the files of a clone are unknown")
    files = []
    for name in filter(None, listed.decode().split("\0")):
        path = REPO / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet in the index
        try:
            path.read_text()
        except UnicodeDecodeError:
            continue  # binary: holds no path a reader follows
        files.append(path)
    return files


def test_no_file_reads_beside_the_repository():
    hits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _repository_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SIBLING.search(line)
    ]
    assert not hits, (
        "these lines point at a folder beside the repository, which a clone does not "
        "have; use the in-repo copy (examples/data, docs/):\n" + "\n".join(hits)
    )


def test_markdown_links_stay_inside_and_exist():
    broken = []
    for path in _repository_files():
        if path.suffix != ".md":
            continue
        for target in MARKDOWN_LINK.findall(path.read_text()):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL, or an anchor on the same page
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(REPO) or not resolved.exists():
                broken.append(f"{path.relative_to(REPO)}: ({target})")
    assert not broken, "links to files outside the repository or missing:\n" + "\n".join(broken)


def test_the_check_sees_a_sibling_path():
    # the pattern must match what it guards against, or the test above passes vacuously
    assert SIBLING.search('open("' + "".join(OUTSIDE) + '/data/x.csv")')
    assert not SIBLING.search('REPO / "shared" / "engine"')
