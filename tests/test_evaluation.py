"""scripts/evaluate.py's pipeline in --quick mode: every policy trained and compared, files written."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import datasets
import numpy as np
import pytest
from PIL import Image

from hf_faa import FasterAutoAugmentPolicy, evaluation
from hf_faa.data import load_image_dataset
from hf_faa.evaluation import EvaluationArguments, run_evaluation
from hf_faa.suite import build_suite_dataset
from hf_faa.training import load_splits


def image_bytes(dataset: datasets.Dataset) -> list[bytes]:
    return [image["bytes"] for image in dataset.cast_column("image", datasets.Image(decode=False))["image"]]


def test_quick_evaluation_writes_one_row_per_policy(tmp_path):
    results = run_evaluation(EvaluationArguments(output_dir=str(tmp_path), quick=True))
    policies = [
        "none",
        "preset:randaugment",
        "preset:trivialaugment",
        "preset:autoaugment-cifar10",
        "search",
        "search-init",
    ]
    assert [row["policy"] for row in results["summary"]] == policies
    for row in results["summary"]:
        assert 0 <= row["mean_accuracy"] <= 1 and math.isfinite(row["std_accuracy"]) and row["seeds"] == 1
    stored = json.loads((tmp_path / "results.json").read_text())
    assert len(stored["runs"]) == 6 and stored["runs"][0]["train_images"] == 64
    assert stored["search_info"]["search"]["steps"] == 4  # searched on the training images only
    table = (tmp_path / "results.md").read_text()
    assert table.count("\n| ") == 7 + 6 and "| search | " in table and "s on this machine" in table
    pytest.importorskip("matplotlib")
    assert Image.open(tmp_path / "results.png").size[0] > 100
    for name in ("randaugment", "trivialaugment", "autoaugment-cifar10", "search", "search-init"):
        assert (tmp_path / f"samples-{name}.png").is_file()


def test_a_learned_policy_given_by_hub_name(tmp_path, hub):
    FasterAutoAugmentPolicy.from_preset("randaugment", magnitude=5).push_to_hub("someone/mnist-policy")
    results = run_evaluation(EvaluationArguments(output_dir=str(tmp_path), quick=True,
                                                 policies=["none", "someone/mnist-policy"]))  # fmt: skip
    row = results["summary"][1]
    assert row["policy"] == "someone/mnist-policy" and row["search_cost"] == "see the policy's model card"
    assert (tmp_path / "samples-someone--mnist-policy.png").is_file()


def test_control_row_and_paired_differences_of_a_tiny_run(tmp_path):
    arguments = EvaluationArguments(output_dir=str(tmp_path), quick=True, policies=["none", "search", "search-init"])
    arguments.seeds = [0, 1]  # --quick trains one seed; pairing needs two
    results = run_evaluation(arguments)
    runs = {(run["policy"], run["seed"]): run["accuracy"] for run in results["runs"]}
    comparisons = {row["baseline"]: row for row in results["comparisons"]}
    assert set(comparisons) == {"none", "search-init"}
    for baseline, row in comparisons.items():
        differences = [runs["search", seed] - runs[baseline, seed] for seed in (0, 1)]
        assert row["mean"] == pytest.approx(sum(differences) / 2) and row["seeds"] == 2
        half_width = 12.706 * abs(differences[0] - differences[1]) / math.sqrt(2) / math.sqrt(2)
        assert row["high"] - row["mean"] == pytest.approx(half_width)
    # the control is the search's own starting point: uniform, untrained, saved beside the results
    initial = FasterAutoAugmentPolicy.from_pretrained(tmp_path / "search-init-policy")
    searched = FasterAutoAugmentPolicy.from_pretrained(tmp_path / "searched-policy")
    assert initial.operations == searched.operations and bool((initial.probabilities == 0.5).all())
    assert initial.num_sub_policies == searched.num_sub_policies  # every search of the ensemble's start
    strengths = {row["policy"]: row["augmentation_strength"] for row in results["summary"]}
    assert strengths["none"] == 0 and 0.01 < strengths["search-init"] < 0.5
    assert "| search-init | " in (tmp_path / "results.md").read_text().split("Paired differences")[1]


def test_a_dataset_smaller_than_one_search_batch_searches_on_every_training_image(tmp_path):
    digits = load_image_dataset()
    rows = [index for label in (0, 1) for index in np.flatnonzero(np.asarray(digits["label"]) == label)[:10]]
    digits.select(rows).save_to_disk(str(tmp_path / "data"))  # --quick holds out half: 10 training images
    arguments = EvaluationArguments(dataset_name=str(tmp_path / "data"), output_dir=str(tmp_path / "out"),
                                    quick=True, policies=["none", "search"])  # fmt: skip
    assert arguments.search_batch_size == 16
    results = run_evaluation(arguments)
    info = results["search_info"]["search"]
    assert info["config"]["per_device_train_batch_size"] == 10 and info["steps"] == 4
    assert [row["policy"] for row in results["summary"]] == ["none", "search"]


def test_an_evaluation_on_a_stream_trains_and_tests_on_the_rows_it_read(tmp_path):
    load_image_dataset().select(range(200)).to_parquet(str(tmp_path / "digits.parquet"))
    arguments = EvaluationArguments(dataset_name=str(tmp_path / "digits.parquet"), streaming=True,
                                    max_train_samples=40, max_eval_samples=20, policies=["none"], seeds=[0],
                                    num_train_epochs=1, cache_dir=str(tmp_path / "cache"),
                                    output_dir=str(tmp_path / "out"))  # fmt: skip
    (run,) = run_evaluation(arguments)["runs"]
    assert (run["train_images"], run["eval_images"]) == (40, 20)
    assert not list((tmp_path / "cache").rglob("*.arrow"))  # the split was never prepared
    with pytest.raises(ValueError, match="set both"):
        run_evaluation(replace(arguments, max_eval_samples=None))


def test_a_default_evaluation_tests_on_at_most_ten_thousand_images(tmp_path, monkeypatch):
    """A large dataset's hold-out (90% of it) is capped, so its 30 runs do not each test tens of thousands."""
    loaded = []

    class Loaded(Exception):
        pass

    def recording_load_splits(data_args):
        loaded.append(data_args)
        raise Loaded

    monkeypatch.setattr(evaluation, "load_splits", recording_load_splits)
    with pytest.raises(Loaded):
        run_evaluation(EvaluationArguments(output_dir=str(tmp_path)))
    assert loaded[0].max_eval_samples == 10_000 and loaded[0].eval_fraction == 0.9


def test_suite_writes_one_folder_per_dataset_and_one_table(tmp_path, monkeypatch):
    pytest.importorskip("skimage")
    split_seeds = []

    def recording_load_splits(data_args):
        split_seeds.append(data_args.split_seed)
        return load_splits(data_args)

    monkeypatch.setattr(evaluation, "load_splits", recording_load_splits)
    arguments = EvaluationArguments(output_dir=str(tmp_path), quick=True, suite=["textures", "photo-patches"],
                                    policies=["none", "search", "search-init"], split_seed=1)  # fmt: skip
    suite = run_evaluation(arguments)
    assert list(suite["datasets"]) == ["textures", "photo-patches"] and split_seeds == [1, 1]
    for name in ("textures", "photo-patches"):
        assert (tmp_path / name / "results.md").is_file()
        # the split seed also draws the suite's patches: other images of the same kind than the default's
        saved = image_bytes(datasets.load_from_disk(str(tmp_path / name / "dataset")))
        assert saved == image_bytes(build_suite_dataset(name, seed=1))
        assert saved != image_bytes(build_suite_dataset(name, seed=0))
    table = (tmp_path / "suite.md").read_text()
    assert table.count("\n| textures |") == 1 and table.count("\n| photo-patches |") == 1
    assert "search − best other" in table and "(none)" in table  # the only other policy is none


def test_several_draws_run_one_evaluation_each_and_average_over_them(tmp_path):
    arguments = EvaluationArguments(output_dir=str(tmp_path), quick=True, policies=["none", "search", "search-init"],
                                    split_seeds=[3, 5])  # fmt: skip
    document = run_evaluation(arguments)
    draws = [json.loads((tmp_path / f"split-{seed}" / "results.json").read_text()) for seed in (3, 5)]
    assert [draw["settings"]["split_seed"] for draw in draws] == [3, 5]
    (dataset,) = document["datasets"].values()
    for baseline in ("none", "search-init"):
        per_draw = [next(row["mean"] for row in draw["comparisons"] if row["baseline"] == baseline) for draw in draws]
        row = dataset["differences"][baseline]
        assert row["per_draw"] == per_draw and row["mean"] == pytest.approx(sum(per_draw) / 2)
        assert row["high"] - row["mean"] == pytest.approx(12.706 * abs(per_draw[0] - per_draw[1]) / 2)
    # none is the only other policy, so it is every draw's best other one
    assert dataset["differences"]["best other"]["per_draw"] == dataset["differences"]["none"]["per_draw"]
    accuracies = [next(row["mean_accuracy"] for row in draw["summary"] if row["policy"] == "search") for draw in draws]
    assert dataset["accuracies"]["search"] == accuracies
    table = (tmp_path / "draws.md").read_text()
    assert "Draws (--split_seed): 3, 5" in table and "| search − best other |" in table and " of 2) |" in table


@pytest.mark.parametrize("seeds", [[1], [2, 2]])
def test_split_seeds_needs_two_different_draws(seeds):
    with pytest.raises(ValueError, match="give two or more different seeds"):
        EvaluationArguments(split_seeds=seeds)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("randaugment", "--policies randaugment: 'randaugment' is the name of a preset.*write 'preset:randaugment'"),
        ("preset:randaugmnt", "--policies preset:randaugmnt: Unknown preset 'randaugmnt'; choose one of"),
    ],
)
def test_a_policy_that_cannot_load_is_named_before_any_search(spec, message):
    with pytest.raises(ValueError, match=message):
        EvaluationArguments(policies=["none", "search", spec])
