"""Hub I/O of the policy: atomic ``save_pretrained``, strict ``from_pretrained``, ``push_to_hub`` and the
model card, through :class:`huggingface_hub.PyTorchModelHubMixin`'s hooks."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch
from huggingface_hub import ModelCard, ModelCardData, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

from .card import CARD_DATA, CITATION, MODEL_CARD_TEMPLATE, PAPER_URL
from .config import PolicyConfig
from .constants import CONFIG_NAME, PARAMETER_NAMES, SAMPLES_NAME, WEIGHTS_NAME
from .files import move_into_place
from .validation import check_config_file, checked_tensors, copy_parameters, read_safetensors


class PolicyHub:
    """Hub methods of :class:`hf_faa.policy.FasterAutoAugmentPolicy` (a mixin placed before
    ``PyTorchModelHubMixin``, whose methods ``super()`` reaches)."""

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        config: dict | None = None,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict[str, Any] | None = None,
        **push_to_hub_kwargs,
    ) -> str | None:
        """Save ``config.json``, ``model.safetensors``, ``policy_samples.png`` and the model card
        ``README.md`` to ``save_directory``, as :meth:`PyTorchModelHubMixin.save_pretrained` does.

        ``model_card_kwargs`` fill the card's template (e.g. ``search_summary``, ``samples_caption``); its
        ``sample_images`` (uint8 ``[N, C, H, W]``) are the rows of ``policy_samples.png`` (default: digits
        of the embedded dataset). Files are written to a staging folder inside ``save_directory`` first
        and moved into place one by one with an atomic rename: an interrupted save never leaves a
        half-written file.
        """
        model_card_kwargs = dict(model_card_kwargs or {})
        sample_images = model_card_kwargs.pop("sample_images", None)
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=save_directory, prefix=".staging-") as staging:
            try:
                super().save_pretrained(staging, config=config, model_card_kwargs=model_card_kwargs)
                from ..sample_grid import render_sample_grid  # PIL drawing, only needed when saving

                render_sample_grid(self, sample_images).save(Path(staging) / SAMPLES_NAME)
            except OSError as error:
                raise OSError(error.errno, f"Saving the policy to {save_directory} failed while writing its files "
                              f"({error}); the files already there are unchanged.") from error  # fmt: skip
            move_into_place(Path(staging), save_directory)
        if push_to_hub:
            return self.push_to_hub(
                repo_id or save_directory.name,
                config=config,
                model_card_kwargs={**model_card_kwargs, "sample_images": sample_images},
                **push_to_hub_kwargs,
            )
        return None

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs) -> str:
        """:meth:`PyTorchModelHubMixin.push_to_hub` (``model_card_kwargs`` as in :meth:`save_pretrained`), with
        ``repo_id`` shown in the card's usage snippet."""
        model_card_kwargs = {"repo_id": repo_id, **(model_card_kwargs or {})}
        return super().push_to_hub(repo_id, model_card_kwargs=model_card_kwargs, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        tensors = {name: getattr(self, name).detach().cpu().float().contiguous() for name in PARAMETER_NAMES}
        safetensors.torch.save_file(tensors, save_directory / WEIGHTS_NAME, metadata={"format": "pt"})
        (save_directory / CONFIG_NAME).write_text(json.dumps(self.config, indent=2, sort_keys=True), encoding="utf-8")

    def generate_model_card(self, *args, **kwargs) -> ModelCard:
        """The model card (``model_card_template.md``) filled with this policy's table, config and facts."""
        card_data = ModelCardData(**{**CARD_DATA, "tags": list(CARD_DATA["tags"])})
        dataset = self.search_info.get("dataset_name")
        if dataset:
            card_data.datasets = [dataset]
        values = {
            "repo_id": kwargs.pop("repo_id", None) or "your-username/your-policy",
            "policy_table": self.describe_markdown(),
            "operation_summary": self.summary_markdown(),
            "policy_config": json.dumps({k: v for k, v in self.config.items() if k != "search_info"}, indent=2),
            "search_info": json.dumps(self.search_info, indent=2) if self.search_info else None,
            "samples_file": SAMPLES_NAME,
            "citation": CITATION,
            "num_sub_policies": self.num_sub_policies,
            "operation_count": self.operation_count,
            "magnitude_sampling": self.magnitude_sampling,
        }
        values.update(kwargs)
        return ModelCard.from_template(
            card_data=card_data,
            template_str=MODEL_CARD_TEMPLATE,
            paper_url=PAPER_URL,
            **values,
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs) -> PolicyHub:
        """Load a policy from a folder or a Hub repo id, as :meth:`PyTorchModelHubMixin.from_pretrained`
        does, but strictly (see :meth:`_from_pretrained`); a name that resolves to nothing raises
        ``FileNotFoundError`` saying so."""
        try:
            check_config_file(pretrained_model_name_or_path, kwargs)
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError, HFValidationError) as error:
            raise FileNotFoundError(
                f"Could not load a policy from {str(pretrained_model_name_or_path)!r}: it is not a local folder, and "
                f"the Hub (or, offline, its cache) has no such policy repo ({type(error).__name__}). Check the path "
                "or repo id, your connection or HF_HUB_OFFLINE, and that the repo holds a policy saved by hf-faa."
            ) from error

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: dict | None = None,
        map_location: str = "cpu",
        **model_kwargs,
    ) -> PolicyHub:
        """Strict load: the config is validated, the weights must be safetensors with exactly the
        expected tensors and shapes. Never falls back to pickle or to random initialisation."""
        model_kwargs.pop("strict", None)  # always strict
        if os.path.isdir(model_id):
            weights_file = os.path.join(model_id, WEIGHTS_NAME)
            if config is None or not os.path.isfile(weights_file):
                missing = CONFIG_NAME if config is None else WEIGHTS_NAME
                raise FileNotFoundError(
                    f"{model_id} has no {missing}; a policy folder holds {CONFIG_NAME} and {WEIGHTS_NAME} "
                    "as written by FasterAutoAugmentPolicy.save_pretrained()."
                )
        else:
            if config is None:
                raise FileNotFoundError(f"The Hub repo {model_id!r} has no {CONFIG_NAME}: it holds no hf-faa policy.")
            weights_file = hf_hub_download(
                repo_id=model_id,
                filename=WEIGHTS_NAME,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        settings = PolicyConfig.from_file({**config, **model_kwargs}, source=f"{model_id}/{CONFIG_NAME}")
        tensors = checked_tensors(read_safetensors(weights_file), settings, source=weights_file)
        policy = cls(**vars(settings))  # only now allocated, at the size the weights file has
        copy_parameters(policy, tensors)
        return policy.to(map_location).eval()
