"""Shared fixtures: every test runs offline with a private Hub cache and datasets cache, and `hub` is a test double of
the Hub that stores pushed repos in that cache's layout, so push -> load-by-name round-trips."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import datasets
import huggingface_hub
import pytest
import torch
from huggingface_hub import HfApi, RepoUrl, constants


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (the README's ``-n 2``) the workers split the threads one process would have, and their
    subprocesses inherit the share through ``OMP_NUM_THREADS``: two workers of two threads each on two cores contend
    for them and run far slower than one."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, torch.get_num_threads() // workers)
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


@pytest.fixture(autouse=True)
def offline_hub_cache(monkeypatch, tmp_path_factory) -> Path:
    """No test may reach the network; each test gets an empty ``HF_HUB_CACHE``.

    The libraries read these settings at import time, so their module constants are patched too;
    the environment variables reach subprocesses (``accelerate launch`` tests).
    """
    cache = tmp_path_factory.mktemp("hub-cache")
    datasets_cache = tmp_path_factory.mktemp("datasets-cache")  # e.g. imagefolder's Arrow files
    for name, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_CACHE": str(cache),
                        "HF_DATASETS_CACHE": str(datasets_cache), "HF_HUB_DISABLE_TELEMETRY": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", datasets_cache)
    return cache


class HubDouble:
    """Repos live in the Hub cache layout: ``models--{user}--{name}/refs/main`` holds a revision and
    ``snapshots/{revision}/`` the files, which is what ``hf_hub_download`` reads offline."""

    USER = "someone"  # the owner of the (pretend) token

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.pushes: list[str] = []

    def repo_folder(self, repo_id: str) -> Path:
        return self.cache / f"models--{repo_id.replace('/', '--')}"

    def publish(self, repo_id: str, folder: str | Path) -> str:
        """Store the files of ``folder`` as the new ``main`` revision of ``repo_id``; returns the revision."""
        files = sorted(path for path in Path(folder).iterdir() if path.is_file())
        digest = hashlib.sha1()
        for path in files:
            digest.update(path.name.encode() + path.read_bytes())
        revision = digest.hexdigest()
        snapshot = self.repo_folder(repo_id) / "snapshots" / revision
        snapshot.mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copy2(path, snapshot / path.name)
        (self.repo_folder(repo_id) / "refs").mkdir(exist_ok=True)
        (self.repo_folder(repo_id) / "refs" / "main").write_text(revision)
        self.pushes.append(repo_id)
        return revision

    def files(self, repo_id: str) -> list[str]:
        revision = (self.repo_folder(repo_id) / "refs" / "main").read_text()
        return sorted(path.name for path in (self.repo_folder(repo_id) / "snapshots" / revision).iterdir())


@pytest.fixture
def hub(monkeypatch, offline_hub_cache) -> HubDouble:
    """The Hub double; ``HfApi.create_repo`` / ``upload_folder`` (what ``push_to_hub`` calls) write into it."""
    double = HubDouble(offline_hub_cache)

    def create_repo(self, repo_id: str, **kwargs) -> RepoUrl:
        # as the Hub does, a bare name is created in the token owner's namespace
        return RepoUrl(f"{constants.ENDPOINT}/{repo_id if '/' in repo_id else f'{HubDouble.USER}/{repo_id}'}")

    def upload_folder(self, *, repo_id: str, folder_path, **kwargs) -> str:
        revision = double.publish(repo_id, folder_path)
        return f"{constants.ENDPOINT}/{repo_id}/commit/{revision}"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert huggingface_hub.HfApi is HfApi
    return double
