"""After the search: keep the searched policy, or a fixed one that trains held-out classifiers better.

The search judges an op by whether it keeps the labels and looks like real data, not by how much it helps a
classifier. On handwriting that leaves a gap: Simard et al.'s elastic distortion on every image beat RandAugment on
mnist by 0.72 points over ten draws while the search tied RandAugment; on optdigits it lost 0.67 points, and on most
other kinds of data it lost to the search (docs/search-research.md, sessions 45 and 46). Which of them trains better
depends on the data, so it is measured on the search's own images: the searched policy and each candidate
(``--policy_candidates``, presets of :data:`hf_faa.policy.PRESETS`) train a small classifier from scratch on all
folds but one, tested on the one held out (:func:`.calibration.held_out_table`). A few hundred held-out images measure
both numbers with much noise, so a candidate replaces the searched policy only where the two agree: a higher mean
held-out accuracy and a lower mean held-out loss. With one cross-validation of five folds that rule switched to the
distortion on three of 26 saved searches where it lost (by up to 1.32 points, on 180-210 images); with three, on none
of 26, and on all six mnist searches, where it gained 0.44-1.06 points (session 46).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

SEARCHED = "search"


@dataclass
class PolicyChoice:
    """The searched policy and each candidate (``names``, the searched one first) with their mean held-out accuracy
    and loss over ``folds`` held-out folds (those of every repeat of the cross-validation), and the name of the one
    kept."""

    names: list[str]
    accuracies: list[float]
    losses: list[float]
    folds: int
    chosen: str
    skipped: str = ""  # why no classifier was trained (empty when they were)

    def as_dict(self) -> dict[str, object]:
        if self.skipped:
            return {"chosen": self.chosen, "skipped": self.skipped}
        return {
            "policies": self.names,
            "held_out_accuracy": [round(value, 4) for value in self.accuracies],
            "held_out_loss": [round(value, 4) for value in self.losses],
            "folds": self.folds,
            "chosen": self.chosen,
        }


def choose_policy(names: list[str], table: Tensor) -> PolicyChoice:
    """The choice among ``names`` (:data:`SEARCHED` first, then the candidates) from their :func:`held_out_table`
    ``table`` ``[len(names), folds, 2]``: among the candidates with a higher mean held-out accuracy and a lower mean
    held-out loss than the searched policy, the one of the lowest loss; else the searched policy."""
    means = table.mean(1)
    accuracies, losses = means[:, 0].tolist(), means[:, 1].tolist()
    better = [index for index in range(1, len(names))
              if accuracies[index] > accuracies[0] and losses[index] < losses[0]]  # fmt: skip
    chosen = min(better, key=losses.__getitem__) if better else 0
    return PolicyChoice(list(names), accuracies, losses, table.shape[1], names[chosen])


def choice_sentence(choice: dict[str, Any]) -> str:
    """What a :meth:`PolicyChoice.as_dict` ``choice`` decided, in words."""
    if choice.get("skipped"):
        return f"Policy choice (--policy_candidates): skipped ({choice['skipped']}); kept the searched policy."
    scores = ", ".join(
        f"{name} {accuracy:.1%} / {loss:.3f}"
        for name, accuracy, loss in zip(
            choice["policies"], choice["held_out_accuracy"], choice["held_out_loss"], strict=True
        )  # fmt: skip
    )
    kept = (
        "kept the searched policy" if choice["chosen"] == SEARCHED
        else f"saved the preset {choice['chosen']} instead of the searched policy (it trained held-out classifiers "
        "to a higher accuracy and a lower loss)"
    )  # fmt: skip
    return (
        f"Policy choice (--policy_candidates): small classifiers trained with each policy on the search images, "
        f"held-out accuracy / loss, the mean over {choice['folds']} held-out folds: {scores}; {kept}."
    )
