"""scripts/evaluate.py's pipeline in --quick mode: every policy trained and compared, files written."""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from hf_faa import FasterAutoAugmentPolicy
from hf_faa.evaluation import EvaluationArguments, run_evaluation


def test_quick_evaluation_writes_one_row_per_policy(tmp_path):
    results = run_evaluation(EvaluationArguments(output_dir=str(tmp_path), quick=True))
    policies = ["none", "preset:randaugment", "preset:trivialaugment", "preset:autoaugment-cifar10", "search"]
    assert [row["policy"] for row in results["summary"]] == policies
    for row in results["summary"]:
        assert 0 <= row["mean_accuracy"] <= 1 and math.isfinite(row["std_accuracy"]) and row["seeds"] == 1
    stored = json.loads((tmp_path / "results.json").read_text())
    assert len(stored["runs"]) == 5 and stored["runs"][0]["train_images"] == 64
    assert stored["search_info"]["search"]["steps"] == 4  # searched on the training images only
    table = (tmp_path / "results.md").read_text()
    assert table.count("\n| ") == 6 and "| search | " in table and "s on this machine" in table
    pytest.importorskip("matplotlib")
    assert Image.open(tmp_path / "results.png").size[0] > 100
    for name in ("randaugment", "trivialaugment", "autoaugment-cifar10", "search"):
        assert (tmp_path / f"samples-{name}.png").is_file()


def test_a_learned_policy_given_by_hub_name(tmp_path, hub):
    FasterAutoAugmentPolicy.from_preset("randaugment", magnitude=5).push_to_hub("someone/mnist-policy")
    results = run_evaluation(EvaluationArguments(output_dir=str(tmp_path), quick=True,
                                                 policies=["none", "someone/mnist-policy"]))  # fmt: skip
    row = results["summary"][1]
    assert row["policy"] == "someone/mnist-policy" and row["search_cost"] == "see the policy's model card"
    assert (tmp_path / "samples-someone--mnist-policy.png").is_file()
