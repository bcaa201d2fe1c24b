"""Does a searched policy help? Train the same classifier on the same small training set with each
policy (and none), over several seeds, and compare test accuracy: the evidence behind
``scripts/evaluate.py`` and the README's results.

Every run goes through :func:`hf_faa.training.train_classifier` (Trainer + PolicyTransform), the code
path of ``scripts/train.py``. The policy ``search`` means: search one now, on the same training images
the classifiers see (never on the test images).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import torch
from transformers import TrainingArguments

from .policy import PRESET_PREFIX, load_policy
from .sample_grid import render_sample_grid
from .search import SearchConfig, run_search
from .training import NO_POLICY, DataArguments, ModelArguments, load_splits, train_classifier

SEARCH_NOW = "search"
# Published search cost of the presets (GPU-hours; Hataya et al. 2020, Table 1); RandAugment and
# TrivialAugment have no search.
PUBLISHED_SEARCH_COST = {
    "preset:autoaugment-cifar10": "5000 GPU-h (published)",
    "preset:autoaugment-svhn": "1000 GPU-h (published)",
    "preset:autoaugment-imagenet": "15000 GPU-h (published)",
    "preset:randaugment": "none (grid of N, M)",
    "preset:trivialaugment": "none",
    NO_POLICY: "–",
}


@dataclass
class EvaluationArguments:
    """What to compare, on what data, for how long."""

    policies: list[str] = field(
        default_factory=lambda: [
            NO_POLICY,
            "preset:randaugment",
            "preset:trivialaugment",
            "preset:autoaugment-cifar10",
            SEARCH_NOW,
        ],  # fmt: skip
        metadata={"help": "none, preset:<name>, a policy folder or Hub repo id, or 'search' (search one now)."},
    )
    dataset_name: str | None = field(default=None, metadata={"help": "Dataset (default: the embedded MNIST-5k)."})
    eval_split: str | None = field(default=None, metadata={"help": "Test split (default: hold out the rest)."})
    train_samples: int = field(default=500, metadata={"help": "Training images (data-scarce regime)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "At most this many test images."})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4], metadata={"help": "Training seeds per policy."})
    num_train_epochs: int = field(default=30, metadata={"help": "Classifier epochs."})
    learning_rate: float = field(default=3e-3, metadata={"help": "Classifier learning rate (AdamW)."})
    batch_size: int = field(default=32, metadata={"help": "Classifier batch size."})
    search_epochs: int = field(default=20, metadata={"help": "Epochs of the 'search' policy's search (paper: 20)."})
    search_batch_size: int = field(default=64, metadata={"help": "Batch size of that search."})
    output_dir: str = field(default="evaluation", metadata={"help": "Where results and plots go."})
    quick: bool = field(default=False, metadata={"help": "Tiny sizes for a smoke test (seconds, not minutes)."})

    def __post_init__(self) -> None:
        if self.quick:
            self.train_samples, self.max_eval_samples, self.seeds = 64, 128, [0]
            self.num_train_epochs, self.search_epochs, self.search_batch_size = 1, 1, 16


def _search_policy(args: EvaluationArguments, train_folder: Path, output_dir: Path) -> tuple[str, dict]:
    """Search a policy on the saved training images; returns (its folder, its search_info)."""
    config = SearchConfig(
        dataset_name=str(train_folder),
        output_dir=str(output_dir / "searched-policy"),
        per_device_train_batch_size=args.search_batch_size,
        num_train_epochs=args.search_epochs,
        logging_steps=5,
        image_size=32,
    )
    policy = run_search(config)
    return config.output_dir, policy.search_info


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
    """Train one classifier per (policy, seed), write results.md/.json, a chart and sample grids."""
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    data_args = DataArguments(dataset_name=args.dataset_name, eval_split=args.eval_split,
                              max_train_samples=args.train_samples, max_eval_samples=args.max_eval_samples)  # fmt: skip
    if args.eval_split is None:
        data_args.eval_fraction = 0.5 if args.quick else 0.9  # train on few images, test on the rest
    train = load_splits(data_args)[0]
    train_folder = output_dir / "train-images"
    train.save_to_disk(str(train_folder))

    policies, search_costs, search_infos = {}, {}, {}
    for spec in args.policies:
        if spec == SEARCH_NOW:
            start = time.perf_counter()
            folder, info = _search_policy(args, train_folder, output_dir)
            policies[spec] = folder
            search_costs[spec] = f"{time.perf_counter() - start:.0f} s on this machine"
            search_infos[spec] = info
        else:
            policies[spec] = spec
            search_costs[spec] = PUBLISHED_SEARCH_COST.get(spec, "see the policy's model card")

    runs = []
    for spec, policy in policies.items():
        for seed in args.seeds:
            model_args = ModelArguments(policy=policy, augmentation_seed=seed)
            training_args = _training_arguments(args, seed, output_dir / "runs" / f"{_slug(spec)}-seed{seed}")
            metrics = train_classifier(model_args, data_args, training_args)
            runs.append({"policy": spec, "seed": seed, "accuracy": metrics["eval_accuracy"],
                         "train_seconds": metrics["train_seconds"], "train_images": metrics["train_images"],
                         "eval_images": metrics["eval_images"]})  # fmt: skip
            print(f"{spec} seed {seed}: accuracy {metrics['eval_accuracy']:.4f}", flush=True)

    summary = _summarise(runs, search_costs)
    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "settings": asdict(args),
        "summary": summary,
        "runs": runs,
        "search_info": search_infos,
    }
    _write_json(output_dir / "results.json", results)
    (output_dir / "results.md").write_text(_results_markdown(results), encoding="utf-8")
    _write_chart(summary, output_dir / "results.png")
    for spec, policy in policies.items():
        if spec != NO_POLICY:
            render_sample_grid(load_policy(policy)).save(output_dir / f"samples-{_slug(spec)}.png")
    return results


def _slug(spec: str) -> str:
    return spec.removeprefix(PRESET_PREFIX).replace("/", "--")


def _summarise(runs: list[dict], search_costs: dict[str, str]) -> list[dict]:
    summary = []
    for spec, cost in search_costs.items():
        accuracies = [run["accuracy"] for run in runs if run["policy"] == spec]
        seconds = [run["train_seconds"] for run in runs if run["policy"] == spec]
        summary.append({
            "policy": spec,
            "mean_accuracy": statistics.fmean(accuracies),
            "std_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "seeds": len(accuracies),
            "search_cost": cost,
            "mean_train_seconds": statistics.fmean(seconds),
        })  # fmt: skip
    return summary


def _results_markdown(results: dict) -> str:
    settings = results["settings"]
    lines = [
        "| policy | test accuracy (mean ± std) | seeds | search cost | train time per run |",
        "|---|---:|---:|---|---:|",
    ]
    for row in results["summary"]:
        lines.append(f"| {row['policy']} | {100 * row['mean_accuracy']:.2f} ± {100 * row['std_accuracy']:.2f} % "
                     f"| {row['seeds']} | {row['search_cost']} | {row['mean_train_seconds']:.1f} s |")  # fmt: skip
    first = results["runs"][0]
    return (
        f"# Policy evaluation\n\n{results['date']}, {results['machine']}. Dataset: "
        f"{settings['dataset_name'] or 'embedded MNIST-5k'}, {first['train_images']} training images, "
        f"{first['eval_images']} test images; small ResNet from scratch, {settings['num_train_epochs']} epochs, "
        f"seeds {settings['seeds']}.\n\n" + "\n".join(lines) + "\n"
    )


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
