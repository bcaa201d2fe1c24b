"""What a search leaves behind besides the policy: ``search_log.jsonl`` and a loss-curve PNG."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LOG_NAME = "search_log.jsonl"
LOSS_CURVE_NAME = "search_curves.png"
# (metric key, panel title) of the loss-curve figure
CURVE_PANELS = (
    ("wasserstein", "Wasserstein estimate E[D(real)] - E[D(augmented)]"),
    ("gradient_penalty", "Gradient penalty"),
    ("augmented_accuracy", "Class-head accuracy on augmented images"),
    ("selection_entropy", "Op-selection entropy (nats)"),
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
    figure, axes = plt.subplots(1, len(CURVE_PANELS), figsize=(4.2 * len(CURVE_PANELS), 3.4))
    steps = [record["step"] for record in records]
    for axis, (key, title) in zip(axes, CURVE_PANELS, strict=True):
        axis.plot(steps, [record[key] for record in records], linewidth=1.5)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    staging = Path(path).with_name(Path(path).name + ".tmp.png")
    figure.savefig(staging, dpi=110)
    plt.close(figure)
    os.replace(staging, path)
    return True
