"""The one model card template (at the repository root) renders from the source tree and from a built wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import hf_faa.policy.card
from hf_faa import FasterAutoAugmentPolicy

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "model_card_template.md"
# A line of the template that no other part of the card produces.
TEMPLATE_LINE = "Left column: original images; other columns: augmented by this policy."

RENDER_CARD = """
import hf_faa
from hf_faa import FasterAutoAugmentPolicy
print(hf_faa.__file__)
print(FasterAutoAugmentPolicy(num_sub_policies=2, operation_count=2).generate_model_card().content)
"""


def test_the_template_exists_once_in_the_checkout():
    assert TEMPLATE.is_file()
    assert not (REPO_ROOT / "hf_faa" / "model_card_template.md").exists()
    assert TEMPLATE_LINE in TEMPLATE.read_text(encoding="utf-8")


def test_card_renders_from_the_source_tree():
    assert hf_faa.policy.card.model_card_template_path() == TEMPLATE
    card = FasterAutoAugmentPolicy(num_sub_policies=2, operation_count=2).generate_model_card().content
    assert TEMPLATE_LINE in card and "{{" not in card


@pytest.mark.slow
def test_card_renders_from_an_installed_wheel(tmp_path):
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    build = [sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(wheel_dir)], check=True, cwd=tmp_path)
    (wheel,) = wheel_dir.glob("hf_faa-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("hf_faa/model_card_template.md") == TEMPLATE.read_bytes()
    assert "hf_faa/resources/mnist_5k.parquet" in names
    assert not any(name.startswith(("tests/", "scripts/")) for name in names)

    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, cwd=tmp_path)
    # PYTHONPATH puts the installed copy before the checkout; torch & co. come from this environment.
    result = subprocess.run(
        [sys.executable, "-c", RENDER_CARD],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, card = result.stdout.split("\n", 1)
    assert Path(module_file).is_relative_to(site)
    assert TEMPLATE_LINE in card and "{{" not in card
