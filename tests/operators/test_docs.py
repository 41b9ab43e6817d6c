"""docs/operator.md shows only code that the test DAGs run."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKED_BLOCK = re.compile(
    r"<!-- (?P<file>tests/dags/\S+): (?P<name>\w+) -->\n```python\n(?P<code>.*?)```", re.S
)


def dag_block(file: str, name: str) -> str:
    source = (ROOT / file).read_text()
    match = re.search(rf"# \[START {name}\]\n(.*?)\n\s*# \[END {name}\]", source, re.S)
    assert match is not None, f"{file} has no [START {name}] block"
    return textwrap.dedent(match.group(1)).strip()


def test_every_example_in_the_operator_docs_is_a_tested_dag_block() -> None:
    blocks = list(MARKED_BLOCK.finditer((ROOT / "docs" / "operator.md").read_text()))
    assert len(blocks) >= 6
    for block in blocks:
        assert block["code"].strip() == dag_block(block["file"], block["name"]), block["name"]
