"""What a search leaves behind besides the policy: ``search_log.jsonl`` and a loss-curve PNG."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .intensity_labels import INTENSITY_RANGE_QUANTILES
from .operation_check import (
    MIN_CHECKED_RATE,
    MIN_PRESERVATION_TO_STAY,
    SPREAD_APPLY_PROBABILITY,
    UNIFORM_MAGNITUDE_VOTE,
    tone_clause,
    training_test_clause,
)
from .policy_choice import SEARCHED, choice_sentence

LOG_NAME = "search_log.jsonl"
LOSS_CURVE_NAME = "search_curves.png"
# (metric key, or a key prefix ending in "/" for one line per matching key; panel title) of the figure
# the log's metrics the model card's summary shows (besides drift/ and gradient_snr/)
SUMMARY_METRICS = ("wasserstein", "real_accuracy", "augmented_accuracy", "selection_entropy", "augmentation_strength",
                   "changed_share")  # fmt: skip
# Series with at most this many logged points are drawn with markers (short runs log few points).
CURVE_MARKER_MAX_POINTS = 20
CURVE_PANELS = (
    ("wasserstein", "Wasserstein estimate E[D(real)] - E[D(augmented)]"),
    ("augmented_accuracy", "Label classifier's accuracy on augmented images"),
    ("augmentation_strength", "Augmentation strength (mean |change| per pixel)"),
    ("selection_entropy", "Op-selection entropy (nats)"),
    ("drift/", "Distance from the initial policy (RMS)"),
    ("gradient_snr/", "Policy-gradient signal-to-noise"),
)


class SearchLog:
    """Metric records, one JSON object per line; only the main process writes.

    On resume, records logged after the checkpoint's step (by the interrupted run) are dropped, so
    the file reads as one uninterrupted run.
    """

    def __init__(self, path: str | Path, writer: bool, resume_step: int = 0) -> None:
        self.path = Path(path)
        self.writer = writer
        self.records: list[dict[str, Any]] = []
        if resume_step and self.path.is_file():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            self.records = [record for record in map(json.loads, lines) if record["step"] <= resume_step]
        if writer:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._rewrite()

    def _rewrite(self) -> None:
        staging = self.path.with_name(self.path.name + ".tmp")
        staging.write_text("".join(json.dumps(record) + "\n" for record in self.records), encoding="utf-8")
        os.replace(staging, self.path)

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.writer:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")


def write_loss_curves(records: list[dict[str, Any]], path: str | Path) -> bool:
    """Plot the logged metrics against the step into a PNG; returns False without matplotlib
    (``pip install hf-faa[plot]``) or without records."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    if not records:
        return False
    columns = 3
    rows = -(-len(CURVE_PANELS) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis, (key, title) in zip(axes.flat, CURVE_PANELS, strict=True):
        keys = [key]
        if key.endswith("/"):
            keys = sorted({name for record in records for name in record if name.startswith(key)})
        for name in keys:
            points = [(record["step"], record[name]) for record in records if name in record]
            marker = "o" if len(points) <= CURVE_MARKER_MAX_POINTS else None  # a lone point shows
            axis.plot(*zip(*points, strict=True), linewidth=1.5, marker=marker, markersize=4,
                      label=name.removeprefix(key))  # fmt: skip
        if not keys:
            axis.text(0.5, 0.5, "not logged in this run", ha="center", va="center", transform=axis.transAxes)
        if len(keys) > 1:
            axis.legend(fontsize=7)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    staging = Path(path).with_name(Path(path).name + ".tmp.png")
    figure.savefig(staging, dpi=110)
    plt.close(figure)
    os.replace(staging, path)
    return True


def summary_markdown(search_info: dict[str, Any], records: list[dict[str, Any]], verdict_sentence: str) -> str:
    """The model card's "Did the search learn?" section: the verdict, the diagnostics at the first and
    the last logging step, how the apply rate of each operation changed, the calibration and the policy choice."""
    lines = [verdict_sentence]
    searches = search_info["config"].get("ensemble_size", 1)
    if searches > 1:
        lines += ["", f"The policy holds the sub-policies of {searches} independent searches (`--ensemble_size`); "
                      "the losses and accuracies below are their means, the drifts and rates those of all their "
                      "sub-policies together."]  # fmt: skip
    if records:
        first, last = records[0], records[-1]
        lines += ["", "| diagnostic | first logged step | last logged step |", "|---|---:|---:|"]
        for key in last:
            if key in first and (key in SUMMARY_METRICS or key.startswith(("drift/", "gradient_snr/"))):
                lines.append(f"| {key} | {first[key]:.4g} | {last[key]:.4g} |")
    rates = sorted(search_info["operation_rates"].items(), key=lambda item: -item[1]["final"])
    lines += ["", "| operation | initial apply rate | final apply rate |", "|---|---:|---:|"]
    lines += [f"| {name} | {rate['initial']:.3f} | {rate['final']:.3f} |" for name, rate in rates]
    check = search_info.get("operation_check")
    if check and check.get("skipped"):
        lines += ["", f"Operation check: skipped ({check['skipped']})."]
    elif check:
        low, high = INTENSITY_RANGE_QUANTILES
        lines += ["", "Operation check: each operation on its own: the cosine between small classifiers' "
                      f"gradients (computed in {check['precision']}) on its images and on held-out images, minus the "
                      "same for unaugmented images, the median over the classifiers (an op the policy applies in "
                      f"{MIN_CHECKED_RATE:.1%} of its stages or more is switched off when it is far below); the "
                      "classifiers' held-out accuracy under the op over that without it (such an op is also switched "
                      f"off under {MIN_PRESERVATION_TO_STAY:g}); the mean absolute pixel change; the share of its "
                      "images whose mean intensity lies within the data's range (between the "
                      f"{low:.0%} and {high:.0%} quantiles of its images' means):",
                  "", "| operation | cosine − unaugmented | label preservation | pixel change | in intensity range |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        cosines, preservation = check["cosine_minus_unaugmented"], check["label_preservation"]
        # searches saved before session 29 have no intensity ranges
        in_range = {name: f"{share:.3f}" for name, share in check.get("in_intensity_range", {}).items()}
        lines += [f"| {name} | {cosines[name]:+.3f} | {preservation[name]:.3f} | {check['pixel_change'][name]:.3f} | "
                  f"{in_range.get(name, '–')} |" for name in sorted(cosines, key=cosines.get)]  # fmt: skip
        lines += ["", f"Switched off: {', '.join(check['switched_off']) or 'nothing'}."]
        # searches saved before session 29 have neither key
        if tone := tone_clause(check.get("tone_label_share", 1.0), check.get("tone_exempt", [])):
            lines.append(tone)
        if check["spread_over"]:
            # searches saved before session 28 have neither key
            training_test = training_test_clause(
                check.get("classifier_accuracy", 1.0), check.get("trained_loss_rise", {})
            )
            lines += [f"Each stage gives {check['selection_spread']:g} of its selection to a uniform choice among: "
                      f"{', '.join(check['spread_over'])}, each at its starting magnitude or more, applied with "
                      f"probability {SPREAD_APPLY_PROBABILITY:g} or more (--selection_spread)"
                      f"{training_test}."]  # fmt: skip
        changes = check.get("doubled_magnitude_cosine_change")
        if changes:
            lines += ["The spread ops' cosine change at twice their magnitude (the median over the classifiers; "
                      f"more than {UNIFORM_MAGNITUDE_VOTE:.0%} of them above 0 draws each image's magnitude uniformly "
                      "from 0 to twice the searched one, --saved_magnitude_sampling auto): "
                      f"{', '.join(f'{name} {change:+.3f}' for name, change in changes.items())}."]  # fmt: skip
    calibration = search_info.get("calibration")
    if calibration:
        lines += ["", "Calibration: a small classifier trained with the policy at each (apply-probability, "
                      "magnitude) scaling, tested on held-out folds of the search data:", "",
                  "| apply factor | magnitude factor | held-out accuracy |", "|---:|---:|---:|"]  # fmt: skip
        for (apply, magnitude), accuracy in zip(calibration["candidates"], calibration["held_out_accuracy"],
                                                strict=True):  # fmt: skip
            lines.append(f"| {apply:g} | {magnitude:g} | {accuracy:.3f} |")
        apply, magnitude = calibration["chosen"]
        lines += ["", f"Kept apply factor {apply:g}, magnitude factor {magnitude:g} (apply factor 0: no augmentation)."]
    choice = search_info.get("policy_choice")
    if choice:
        lines += ["", choice_sentence(choice)]
        if choice["chosen"] != SEARCHED:
            lines.append("The operations' apply rates above are the searched policy's, not the saved one's.")
    return "\n".join(lines)
