"""The model card's fixed parts: metadata, paper, citation and the template (``model_card_template.md``)."""

from __future__ import annotations

from pathlib import Path

CITATION = """@inproceedings{hataya2020faster,
  title     = {Faster AutoAugment: Learning Augmentation Strategies using Backpropagation},
  author    = {Hataya, Ryuichiro and Zdenek, Jan and Yoshizoe, Kazuki and Nakayama, Hideki},
  booktitle = {Computer Vision -- ECCV 2020},
  year      = {2020},
  eprint    = {1911.06987},
  archivePrefix = {arXiv},
}"""


def model_card_template_path() -> Path:
    """Where ``model_card_template.md`` is: inside the package in a wheel (pyproject's force-include),
    at the repository root in a source checkout (editable installs and tests read the one copy in git)."""
    candidates = (
        Path(__file__).parents[1] / "model_card_template.md",
        Path(__file__).parents[2] / "model_card_template.md",
    )
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"model_card_template.md is missing from {candidates[0].parent}; reinstall hf-faa.")


# The model card's metadata, given to the Hub mixin and used by generate_model_card.
CARD_DATA = {
    "library_name": "hf-faa",
    "tags": ["data-augmentation", "faster-autoaugment", "image-classification", "autoaugment"],
    "license": "apache-2.0",
    "pipeline_tag": "image-to-image",
}
PAPER_URL = "https://arxiv.org/abs/1911.06987"
MODEL_CARD_TEMPLATE = model_card_template_path().read_text(encoding="utf-8")
