"""Does a searched policy help? Train the same classifier on the same small training set with each
policy (and none), over several seeds, and compare test accuracy: the evidence behind
``scripts/evaluate.py`` and the README's results.

Every run goes through :func:`hf_faa.training.train_classifier` (Trainer + PolicyTransform), the code
path of ``scripts/train.py``. The policy ``search`` means: search one now, on the same training images
the classifiers see (never on the test images); ``search-init`` is that search's starting policy,
untrained: the control that shows what the search itself adds. Every policy is trained with the same
seeds, so policies are compared by their paired differences per seed, with a 95% t-interval.
``--suite`` runs the comparison on several datasets of :mod:`hf_faa.suite` into one table.
"""

from __future__ import annotations

import json
import logging
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import set_seed
from transformers import HfArgumentParser, TrainingArguments

from .data import DatasetArguments, prepare_dataset
from .policy import PRESET_PREFIX, load_policy
from .policy.presets import check_policy_name
from .sample_grid import render_sample_grid
from .search import SearchConfig, initial_policy, run_search
from .search.diagnostics import augmentation_strength
from .search.outputs import sample_images
from .training import (
    NO_POLICY,
    DataArguments,
    ModelArguments,
    decode_once_for_training,
    load_splits,
    train_classifier,
)

logger = logging.getLogger(__name__)

SEARCH_NOW = "search"
SEARCH_INIT = "search-init"
BEST_OTHER = "best other"  # per draw: the policy other than the search and its start that scored highest
# Two-sided 95% quantiles of Student's t distribution for 1..30 degrees of freedom (beyond: normal).
T_QUANTILES_95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
                  2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
                  2.052, 2.048, 2.045, 2.042)  # fmt: skip
# Each run tests on all the test images. On this project's 2-core CPU (about 5,300 images of 32x32 a second), a
# default evaluation of 60,000 images, whose hold-out is 54,000, took 12 min 30 s uncapped and 8 min 15 s at this
# cap; the same classifiers' accuracies on the two test sets differed by 0.13 points at most (session 43).
DEFAULT_MAX_EVAL_SAMPLES = 10_000
STRENGTH_IMAGES = 256  # training images the augmentation-strength column is measured on
# Published search cost of the presets (GPU-hours; Hataya et al. 2020, Table 1); RandAugment, TrivialAugment and
# the elastic distortion have no search.
PUBLISHED_SEARCH_COST = {
    "preset:autoaugment-cifar10": "5000 GPU-h (published)",
    "preset:autoaugment-svhn": "1000 GPU-h (published)",
    "preset:autoaugment-imagenet": "15000 GPU-h (published)",
    "preset:randaugment": "none (grid of N, M)",
    "preset:trivialaugment": "none",
    "preset:elastic": "none",
    NO_POLICY: "–",
    SEARCH_INIT: "none (the search's untrained start)",
}


@dataclass
class EvaluationArguments(DatasetArguments):
    """What to compare, on what data (the fields of :class:`hf_faa.data.DatasetArguments`), for how long."""

    policies: list[str] = field(
        default_factory=lambda: [
            NO_POLICY,
            "preset:randaugment",
            "preset:trivialaugment",
            "preset:autoaugment-cifar10",
            SEARCH_NOW,
            SEARCH_INIT,
        ],  # fmt: skip
        metadata={
            "help": "none, preset:<name>, a policy folder or Hub repo id, 'search' (search one now) or "
            "'search-init' (that search's untrained starting policy)."
        },  # fmt: skip
    )
    suite: list[str] = field(
        default_factory=list,
        metadata={"help": "Evaluate on each of these hf_faa.suite datasets (hf_faa.suite.SUITE_DATASETS)."},
    )
    eval_split: str | None = field(default=None, metadata={"help": "Test split; if unset, hold out the rest."})
    split_seed: int = field(
        default=0,
        metadata={
            "help": "Seed of the train/test split and the subsets (with --suite, also of the patches each dataset "
            "cuts and their order): another seed gives other images of the same kind, data no setting was tuned on."
        },  # fmt: skip
    )
    split_seeds: list[int] = field(
        default_factory=list,
        metadata={
            "help": "Several draws instead of --split_seed's one: the whole evaluation once per seed, into "
            "output_dir/split-<seed>/, then draws.md/.json: the searched policy against each other one, the mean "
            "over the draws with its t-interval over the draws (one draw's few images are one sample of many)."
        },  # fmt: skip
    )
    max_train_samples: int | None = field(
        default=500, metadata={"help": "Training images (data-scarce regime).", "aliases": ["--train_samples"]}
    )
    max_eval_samples: int | None = field(
        default=DEFAULT_MAX_EVAL_SAMPLES,
        metadata={
            "help": "At most this many test images, a stratified subset (with --streaming: the rows streamed for "
            "testing). Every run tests on all of them, so the cap keeps a large dataset's evaluation within minutes."
        },  # fmt: skip
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4], metadata={"help": "Training seeds per policy."})
    num_train_epochs: int = field(default=30, metadata={"help": "Classifier epochs."})
    learning_rate: float = field(default=3e-3, metadata={"help": "Classifier learning rate (AdamW)."})
    batch_size: int = field(default=32, metadata={"help": "Classifier batch size."})
    search_steps: int = field(default=400, metadata={"help": "Steps of the 'search' policy's search."})
    search_batch_size: int = field(default=64, metadata={"help": "Batch size of that search."})
    search_settings: str | None = field(
        default=None, metadata={"help": "A .json/.yaml file of further SearchConfig settings for that search."}
    )
    output_dir: str = field(default="evaluation", metadata={"help": "Where results and plots go."})
    quick: bool = field(default=False, metadata={"help": "Tiny sizes for a smoke test (seconds, not minutes)."})

    def __post_init__(self) -> None:
        for spec in [spec for spec in self.policies if spec not in (NO_POLICY, SEARCH_NOW, SEARCH_INIT)]:
            try:
                check_policy_name(spec)
            except ValueError as error:  # before any search: the flag, then what is wrong with it
                raise ValueError(f"--policies {spec}: {error}") from None
        if len(self.split_seeds) == 1 or len(set(self.split_seeds)) < len(self.split_seeds):
            raise ValueError(f"--split_seeds {' '.join(map(str, self.split_seeds))}: give two or more different seeds "
                             "(one draw: --split_seed N).")  # fmt: skip
        if self.quick:
            self.max_train_samples, self.max_eval_samples, self.seeds = 64, 128, [0]
            self.num_train_epochs, self.search_steps, self.search_batch_size = 1, 4, 16


def _search_config(
    args: EvaluationArguments, columns: tuple[str, str], train_rows: int, output_dir: Path
) -> SearchConfig:
    """The search of the 'search' policy (on the ``train_rows`` training images), over ``args.search_settings``."""
    overrides = {
        "dataset_name": args.dataset_name,
        "dataset_config_name": args.dataset_config_name,
        "train_split": args.train_split,
        "image_column": columns[0],
        "label_column": columns[1],
        "output_dir": str(output_dir / "searched-policy"),
        "per_device_train_batch_size": _search_batch_size(args.search_batch_size, train_rows),
        "max_steps": args.search_steps,
        "logging_steps": 5,
        "image_size": 32,
    }
    if args.quick:  # seconds: no post-search classifiers
        overrides.update(calibration_epochs=1, operation_check=False, policy_candidates=[])
    if args.search_settings is None:
        return SearchConfig(**overrides)
    parser = HfArgumentParser(SearchConfig)
    read = parser.parse_yaml_file if args.search_settings.endswith((".yaml", ".yml")) else parser.parse_json_file
    (settings,) = read(args.search_settings)
    return replace(settings, **overrides)


def _search_batch_size(requested: int, train_rows: int) -> int:
    """``requested``, or every training image when there are fewer (a small dataset held out 9 to 1)."""
    if train_rows >= requested:
        return requested
    logger.warning(f"The training split has {train_rows} images, fewer than one search batch of {requested}: the "
                   f"search takes all {train_rows} in each batch.")  # fmt: skip
    return train_rows


def _training_arguments(args: EvaluationArguments, seed: int, run_dir: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(run_dir),
        num_train_epochs=args.num_train_epochs,
        learning_rate=args.learning_rate,
        weight_decay=5e-4,
        warmup_steps=20,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=256,
        seed=seed,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )


def run_evaluation(args: EvaluationArguments) -> dict[str, Any]:
    """Train one classifier per (policy, seed), write results.md/.json, a chart and sample grids
    (with ``args.suite``: one folder of those per dataset, and suite.md/.json over all of them; with
    ``args.split_seeds``: one folder per draw, and draws.md/.json over them)."""
    if args.split_seeds:
        return run_draws(args)
    if args.suite:
        return run_suite(args)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    shared = {data_field.name: getattr(args, data_field.name) for data_field in fields(DatasetArguments)}
    data_args = DataArguments(**shared, eval_split=args.eval_split, max_eval_samples=args.max_eval_samples,
                              split_seed=args.split_seed)  # fmt: skip
    if args.eval_split is None:
        data_args.eval_fraction = 0.5 if args.quick else 0.9  # train on few images, test on the rest
    splits = load_splits(data_args)  # once: every run trains on these same images
    columns = (splits.image_column, splits.label_column)
    search_config = _search_config(args, columns, len(splits.train), output_dir)
    train_images = prepare_dataset(args.dataset_name, split=args.train_split, image_column=columns[0],
                                   label_column=columns[1], image_size=search_config.image_size,
                                   dataset=splits.train)  # fmt: skip

    policies, search_costs, search_infos = {}, {}, {}
    for spec in args.policies:
        if spec == SEARCH_NOW:
            start = time.perf_counter()
            policies[spec] = search_config.output_dir
            search_infos[spec] = run_search(search_config, splits.train).search_info
            search_costs[spec] = f"{time.perf_counter() - start:.0f} s on this machine"
        elif spec == SEARCH_INIT:
            set_seed(search_config.seed)  # as the search does before it draws a random initial policy
            policies[spec] = str(output_dir / "search-init-policy")
            initial_policy(search_config, train_images.num_channels).save_pretrained(policies[spec])
            search_costs[spec] = PUBLISHED_SEARCH_COST[spec]
        else:
            policies[spec] = spec
            search_costs[spec] = PUBLISHED_SEARCH_COST.get(spec, "see the policy's model card")
    strengths = _strengths(policies, train_images)

    classifier_splits = decode_once_for_training(splits, ModelArguments())
    runs = []
    for spec, policy in policies.items():
        for seed in args.seeds:
            model_args = ModelArguments(policy=policy, augmentation_seed=seed)
            training_args = _training_arguments(args, seed, output_dir / "runs" / f"{_slug(spec)}-seed{seed}")
            metrics = train_classifier(model_args, data_args, training_args, classifier_splits)
            runs.append({"policy": spec, "seed": seed, "accuracy": metrics["eval_accuracy"],
                         "train_seconds": metrics["train_seconds"], "train_images": metrics["train_images"],
                         "eval_images": metrics["eval_images"]})  # fmt: skip
            logger.info(f"{spec} seed {seed}: accuracy {metrics['eval_accuracy']:.4f}")

    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "settings": asdict(args),
        "summary": _summarise(runs, search_costs, strengths),
        "comparisons": _compare(runs, SEARCH_NOW) if SEARCH_NOW in policies else [],
        "runs": runs,
        "search_info": search_infos,
    }
    _write_json(output_dir / "results.json", results)
    (output_dir / "results.md").write_text(_results_markdown(results), encoding="utf-8")
    _write_chart(results["summary"], output_dir / "results.png")
    samples, _ = sample_images(train_images)  # one training image per class (None: the embedded digits)
    for spec, policy in policies.items():
        if spec != NO_POLICY:
            render_sample_grid(load_policy(policy), samples).save(output_dir / f"samples-{_slug(spec)}.png")
    return results


def run_suite(args: EvaluationArguments) -> dict[str, Any]:
    """:func:`run_evaluation` on each dataset of ``args.suite`` (built by :func:`hf_faa.suite.build_suite_dataset`
    into ``output_dir/<name>/dataset`` with ``args.split_seed``), then one table over all: ``suite.md`` and
    ``suite.json``."""
    from .suite import build_suite_dataset  # needs scikit-image for the patch datasets

    output_dir = Path(args.output_dir)
    results = {}
    for name in args.suite:
        folder = output_dir / name
        build_suite_dataset(name, seed=args.split_seed).save_to_disk(str(folder / "dataset"))
        results[name] = run_evaluation(replace(args, suite=[], dataset_name=str(folder / "dataset"),
                                               output_dir=str(folder)))  # fmt: skip
    suite = {"date": date.today().isoformat(), "settings": asdict(args), "datasets": results}
    _write_json(output_dir / "suite.json", suite)
    (output_dir / "suite.md").write_text(_suite_markdown(results), encoding="utf-8")
    return suite


def run_draws(args: EvaluationArguments) -> dict[str, Any]:
    """:func:`run_evaluation` once per seed of ``args.split_seeds`` (into ``output_dir/split-<seed>``), then
    ``draws.md`` and ``draws.json``: per dataset, the searched policy against each other policy and against the best
    other one of each draw, as the mean over the draws of each draw's mean paired difference, with its t-interval
    over the draws."""
    output_dir = Path(args.output_dir)
    by_draw = {}
    for seed in args.split_seeds:
        draw = replace(args, split_seeds=[], split_seed=seed, output_dir=str(output_dir / f"split-{seed}"))
        result = run_evaluation(draw)
        by_draw[seed] = result["datasets"] if args.suite else {args.dataset_name or "embedded MNIST-5k": result}
    names = next(iter(by_draw.values()))
    datasets = {name: _over_draws([results[name] for results in by_draw.values()]) for name in names}
    document = {"date": date.today().isoformat(), "settings": asdict(args), "split_seeds": args.split_seeds,
                "datasets": datasets}  # fmt: skip
    _write_json(output_dir / "draws.json", document)
    (output_dir / "draws.md").write_text(_draws_markdown(document), encoding="utf-8")
    return document


def _over_draws(draws: list[dict]) -> dict[str, Any]:
    """One dataset's draws (each a :func:`run_evaluation` result): each policy's mean accuracy per draw, and, where a
    search ran, its mean paired difference with every other policy (and with each draw's best other one) per draw and
    over the draws."""
    policies = [row["policy"] for row in draws[0]["summary"]]
    accuracies = {spec: [next(row["mean_accuracy"] for row in draw["summary"] if row["policy"] == spec)
                         for draw in draws] for spec in policies}  # fmt: skip
    if not draws[0]["comparisons"]:
        return {"accuracies": accuracies, "differences": {}}
    per_draw = {BEST_OTHER: [], **{row["baseline"]: [] for row in draws[0]["comparisons"]}}
    for index, draw in enumerate(draws):
        comparisons = {row["baseline"]: row["mean"] for row in draw["comparisons"]}
        for baseline in comparisons:
            per_draw[baseline].append(comparisons[baseline])
        best = _best_other({spec: values[index] for spec, values in accuracies.items()})
        if best in comparisons:
            per_draw[BEST_OTHER].append(comparisons[best])
    differences = {baseline: _mean_over_draws(values) for baseline, values in per_draw.items() if values}
    return {"accuracies": accuracies, "differences": differences}


def _mean_over_draws(values: list[float]) -> dict[str, Any]:
    """The mean of one difference per draw with its 95% t-interval over the draws, and the draws' values."""
    interval = paired_difference(values, [0.0] * len(values))
    return {"mean": interval["mean"], "low": interval["low"], "high": interval["high"], "per_draw": values}


def _draws_markdown(document: dict) -> str:
    """Mean accuracy per policy over the draws, then the searched policy against each other one over the draws."""
    first = next(iter(document["datasets"].values()))
    policies = list(first["accuracies"])
    lines = ["| dataset | " + " | ".join(policies) + " |", "|---|" + "---:|" * len(policies)]
    for name, dataset in document["datasets"].items():
        cells = [f"{100 * statistics.fmean(values):.2f}" for values in dataset["accuracies"].values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    baselines = list(first["differences"])
    if baselines:
        lines += ["", "Search − each policy in accuracy points: the mean over the draws of each draw's mean paired "
                  "difference, [95% t-interval over the draws], and the draws on which the search was at or above "
                  "it:", "", "| dataset | " + " | ".join(f"search − {spec}" for spec in baselines) + " |",
                  "|---|" + "---:|" * len(baselines)]  # fmt: skip
        for name, dataset in document["datasets"].items():
            cells = [f"{_interval(row)} ({sum(value >= 0 for value in row['per_draw'])} of {len(row['per_draw'])})"
                     for row in dataset["differences"].values()]  # fmt: skip
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = ", ".join(map(str, document["split_seeds"]))
    caption = (
        f"Draws (--split_seed): {seeds}; each draw's training seeds: {document['settings']['seeds']}. Test "
        f"accuracy (%), the mean over the draws of each policy's mean; '{BEST_OTHER}' is, on each draw, the "
        "policy other than the search and its start with the highest mean accuracy."
    )
    return f"# Evaluation over draws\n\n{caption}\n\n" + "\n".join(lines) + "\n"


def _strengths(policies: dict[str, str], data) -> dict[str, float]:
    """Mean absolute pixel change per image (in [0, 1] units) of each policy on the first training images."""
    batch = data.dataset[: min(STRENGTH_IMAGES, len(data.dataset))]
    images = torch.stack([image for image, valid in zip(batch["pixel_values"], batch["valid"], strict=True) if valid])
    original = images.float() / 255
    strengths = {}
    for spec, policy in policies.items():
        if spec == NO_POLICY:
            strengths[spec] = 0.0
            continue
        augmented = load_policy(policy)(images, generator=torch.Generator().manual_seed(0)).float() / 255
        strengths[spec] = float(augmentation_strength(original, augmented).mean())
    return strengths


def _slug(spec: str) -> str:
    return spec.removeprefix(PRESET_PREFIX).replace("/", "--")


def paired_difference(values: list[float], baseline: list[float]) -> dict[str, float]:
    """Mean of ``values[i] − baseline[i]`` (paired by seed) with its two-sided 95% t-interval."""
    differences = [value - base for value, base in zip(values, baseline, strict=True)]
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "seeds": len(differences)}
    degrees = len(differences) - 1
    quantile = T_QUANTILES_95[degrees - 1] if degrees <= len(T_QUANTILES_95) else 1.96
    half_width = quantile * statistics.stdev(differences) / len(differences) ** 0.5
    return {"mean": mean, "low": mean - half_width, "high": mean + half_width, "seeds": len(differences)}


def _accuracies_by_seed(runs: list[dict], spec: str) -> dict[int, float]:
    return {run["seed"]: run["accuracy"] for run in runs if run["policy"] == spec}


def _compare(runs: list[dict], subject: str) -> list[dict]:
    """``subject`` against every other policy: paired differences over the seeds both were trained with."""
    mine = _accuracies_by_seed(runs, subject)
    comparisons = []
    for spec in dict.fromkeys(run["policy"] for run in runs):
        if spec == subject:
            continue
        theirs = _accuracies_by_seed(runs, spec)
        seeds = sorted(mine.keys() & theirs.keys())
        difference = paired_difference([mine[seed] for seed in seeds], [theirs[seed] for seed in seeds])
        comparisons.append({"policy": subject, "baseline": spec, **difference})
    return comparisons


def _summarise(runs: list[dict], search_costs: dict[str, str], strengths: dict[str, float]) -> list[dict]:
    summary = []
    for spec, cost in search_costs.items():
        accuracies = [run["accuracy"] for run in runs if run["policy"] == spec]
        seconds = [run["train_seconds"] for run in runs if run["policy"] == spec]
        summary.append({
            "policy": spec,
            "mean_accuracy": statistics.fmean(accuracies),
            "std_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "seeds": len(accuracies),
            "augmentation_strength": strengths[spec],
            "search_cost": cost,
            "mean_train_seconds": statistics.fmean(seconds),
        })  # fmt: skip
    return summary


def _interval(difference: dict) -> str:
    low, high = 100 * difference["low"], 100 * difference["high"]
    interval = f"[{low:+.2f}, {high:+.2f}]" if low == low else "(one seed: no interval)"  # NaN != NaN
    return f"{100 * difference['mean']:+.2f} {interval}"


def _results_markdown(results: dict) -> str:
    settings = results["settings"]
    lines = [
        "| policy | test accuracy (mean ± std) | seeds | augmentation strength | search cost | train time per run |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in results["summary"]:
        lines.append(f"| {row['policy']} | {100 * row['mean_accuracy']:.2f} ± {100 * row['std_accuracy']:.2f} % "
                     f"| {row['seeds']} | {row['augmentation_strength']:.3f} | {row['search_cost']} "
                     f"| {row['mean_train_seconds']:.1f} s |")  # fmt: skip
    if results["comparisons"]:
        lines += ["", "Paired differences per seed, search − baseline, in accuracy points, mean [95% t-interval]:", "",
                  "| baseline | search − baseline |", "|---|---:|"]  # fmt: skip
        lines += [f"| {row['baseline']} | {_interval(row)} |" for row in results["comparisons"]]
    first = results["runs"][0]
    return (
        f"# Policy evaluation\n\n{results['date']}, {results['machine']}. Dataset: "
        f"{settings['dataset_name'] or 'embedded MNIST-5k'}, {first['train_images']} training images, "
        f"{first['eval_images']} test images; small ResNet from scratch, {settings['num_train_epochs']} epochs, "
        f"seeds {settings['seeds']}. Augmentation strength: mean absolute pixel change per image (0-1 scale) "
        f"on the training images.\n\n" + "\n".join(lines) + "\n"
    )


def _suite_markdown(results: dict[str, dict]) -> str:
    """One row per dataset: mean accuracy of every policy, then search − (best other, none, search-init)."""
    policies = [row["policy"] for row in next(iter(results.values()))["summary"]]
    header = "| dataset | " + " | ".join(policies) + " | search − best other | search − search-init |"
    lines = [header, "|---|" + "---:|" * (len(policies) + 2)]
    for name, result in results.items():
        means = {row["policy"]: row["mean_accuracy"] for row in result["summary"]}
        cells = [f"{100 * means[spec]:.2f}" for spec in policies]
        comparisons = {row["baseline"]: row for row in result["comparisons"]}
        best = _best_other(means)
        versus_best = f"{_interval(comparisons[best])} ({best})" if best in comparisons else "–"
        versus_init = _interval(comparisons[SEARCH_INIT]) if SEARCH_INIT in comparisons else "–"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {versus_best} | {versus_init} |")
    caption = "Test accuracy (%), mean over seeds; differences in points, mean [95% t-interval]."
    return f"# Evaluation suite\n\n{caption}\n\n" + "\n".join(lines) + "\n"


def _best_other(mean_accuracies: dict[str, float]) -> str | None:
    """The policy other than the search and its start with the highest mean accuracy (None if there is none)."""
    others = [spec for spec in mean_accuracies if spec not in (SEARCH_NOW, SEARCH_INIT)]
    return max(others, key=mean_accuracies.__getitem__, default=None)


def _write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")


def _write_chart(summary: list[dict], path: Path) -> bool:
    """Bar chart of mean accuracy with ±1 std error bars; False without matplotlib (hf-faa[plot])."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(1.6 * len(summary) + 2, 3.6))
    names = [_slug(row["policy"]) for row in summary]
    means = [100 * row["mean_accuracy"] for row in summary]
    errors = [100 * row["std_accuracy"] for row in summary]
    axis.bar(names, means, yerr=errors, capsize=5, color="#4c72b0")
    low = min(m - e for m, e in zip(means, errors, strict=True))
    axis.set_ylim(max(0, low - 2), min(100, max(m + e for m, e in zip(means, errors, strict=True)) + 1))
    axis.set_ylabel("test accuracy (%)")
    axis.tick_params(axis="x", labelrotation=20)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
