"""Search checkpoints: ``accelerator.save_state`` into ``output_dir/checkpoints/step_N``, written to a
temporary folder and renamed into place, so a checkpoint folder is always complete; loaded back with a check that
the random states came back too."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator

logger = logging.getLogger(__name__)

CHECKPOINTS_FOLDER = "checkpoints"
_STEP_FOLDER = re.compile(r"^step_(\d+)$")


@dataclasses.dataclass
class SearchProgress:
    """The loop's position, saved with every checkpoint (``accelerator.register_for_checkpointing``)."""

    global_step: int = 0
    initial_strength: float = 0.0  # the initial policy's augmentation strength (the floor's reference)
    skipped_images: int = 0  # undecodable images left out so far
    skipped_steps: int = 0  # steps without updates: some process had too few decodable images

    def state_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.global_step = int(state["global_step"])
        self.initial_strength = float(state.get("initial_strength", 0.0))
        self.skipped_images = int(state.get("skipped_images", 0))
        self.skipped_steps = int(state.get("skipped_steps", 0))


def checkpoint_folder(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / CHECKPOINTS_FOLDER / f"step_{step}"


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete checkpoints under ``output_dir/checkpoints``, oldest (lowest step) first."""
    folder = Path(output_dir) / CHECKPOINTS_FOLDER
    steps = [
        (int(match.group(1)), path)
        for path in (folder.iterdir() if folder.is_dir() else [])
        if (match := _STEP_FOLDER.match(path.name)) and path.is_dir()
    ]
    return [path for _, path in sorted(steps)]


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest step under ``output_dir/checkpoints``, if any."""
    checkpoints = complete_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def resolve_checkpoint(output_dir: str | Path, resume_from_checkpoint: str) -> Path:
    """``"latest"`` or a folder -> the checkpoint folder to load; ``FileNotFoundError`` if there is none."""
    if resume_from_checkpoint == "latest":
        latest = latest_checkpoint(output_dir)
        if latest is None:
            raise FileNotFoundError(
                f"--resume_from_checkpoint latest: no checkpoint in {Path(output_dir) / CHECKPOINTS_FOLDER}. "
                "Check --output_dir, or start without --resume_from_checkpoint."
            )
        return latest
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {path}: no such checkpoint folder.")
    return path


def remove_checkpoints(accelerator: Accelerator, output_dir: str | Path) -> None:
    """Delete every checkpoint under ``output_dir/checkpoints`` (main process), e.g. an earlier search's,
    which ``latest`` would otherwise pick over a new search's."""
    if accelerator.is_main_process:
        shutil.rmtree(Path(output_dir) / CHECKPOINTS_FOLDER, ignore_errors=True)
    accelerator.wait_for_everyone()


def save_checkpoint(
    accelerator: Accelerator, output_dir: str | Path, step: int, total_limit: int | None = None
) -> Path:
    """Every process writes its part into ``step_N.tmp``; the main process then renames it to ``step_N`` and,
    with ``total_limit``, deletes the oldest checkpoints beyond that many (only once the new one is complete)."""
    final = checkpoint_folder(output_dir, step)
    staging = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and staging.exists():
        shutil.rmtree(staging)  # left by an interrupted save
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(staging))
    except OSError as error:
        message = (f"Writing checkpoint {final} failed ({error}); the earlier checkpoints in {final.parent} are "
                   "intact (resume from them with --resume_from_checkpoint latest).")  # fmt: skip
        raise OSError(error.errno, message) from error
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        if total_limit is not None:
            for old in complete_checkpoints(output_dir)[:-total_limit]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, checkpoint: Path) -> None:
    """``accelerator.load_state(checkpoint)``, with a warning on a process whose random states did not come back.
    accelerate then goes on with the states it has and says so only at INFO level, so the resumed search draws other
    augmentations than the uninterrupted one would have: a valid search, not the same one. (accelerate 1.3 could not
    read them with numpy 1.24, for one.) Restored states replace the torch generator's, so an unchanged one was not
    restored."""
    before = torch.get_rng_state()
    accelerator.load_state(str(checkpoint))
    if torch.equal(torch.get_rng_state(), before):
        logger.warning(
            f"accelerate could not restore the random states in {checkpoint} on process {accelerator.process_index}: "
            "the search resumes with other random draws, so it will not end exactly as an uninterrupted search would."
        )
