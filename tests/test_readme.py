"""Every python snippet in README.md runs as written, offline, in a folder where the quickstart's
policy (``faa-policy/``) exists."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hf_faa import FasterAutoAugmentPolicy

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = [textwrap.dedent(code) for code in re.findall(r"^ *```python\n(.*?)^ *```", README.read_text(), re.M | re.S)]


def test_the_readme_has_the_snippets_users_copy():
    assert len(SNIPPETS) >= 3
    assert any("from_pretrained" in code for code in SNIPPETS) and any("Trainer(" in code for code in SNIPPETS)
    assert any("PolicyCollator(" in code for code in SNIPPETS)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(index, tmp_path):
    FasterAutoAugmentPolicy.from_preset("randaugment").save_pretrained(tmp_path / "faa-policy")
    result = subprocess.run([sys.executable, "-c", SNIPPETS[index]], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, f"{SNIPPETS[index]}\n{result.stderr[-3000:]}"
