"""What the scripts share: flags parsed over an optional settings file, ``--help`` that keeps the usage
examples as written, ``--log_level`` for the package's messages, and user mistakes reported in one line.

    def main(argv):
        config, logging_args = parse_arguments((SearchConfig, LoggingArguments), argv, __doc__)
        configure_logging(logging_args.log_level)
        run_search(config)

    if __name__ == "__main__":
        run_script(main)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser

SETTINGS_SUFFIXES = (".json", ".yaml", ".yml")
# Exit status of a run stopped by a user mistake (argparse uses 2 for bad flags).
USER_ERROR_STATUS = 1
PACKAGE_ROOT = Path(__file__).resolve().parent
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` keeps the description's line breaks (the usage examples) and shows each flag's default."""


def parse_arguments(dataclass_types: Any, argv: Sequence[str], description: str | None = None) -> tuple[Any, ...]:
    """Parse ``argv`` into instances of ``dataclass_types`` (one dataclass or a tuple of them).

    ``argv`` may start with a ``.json``/``.yaml``/``.yml`` settings file: its keys set the fields, and
    the flags after it override them (``search.py settings.yaml --max_steps 50``). Unknown keys in the
    file raise ``ValueError`` naming them.
    """
    parser = HfArgumentParser(dataclass_types, description=description, formatter_class=HelpFormatter)
    argv = list(argv)
    if argv and argv[0].endswith(SETTINGS_SUFFIXES):
        settings = read_settings(argv.pop(0))
        types = dataclass_types if isinstance(dataclass_types, tuple | list) else (dataclass_types,)
        known = {field.name for dataclass_type in types for field in dataclasses.fields(dataclass_type)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"Unknown setting(s) {unknown}; `--help` lists the valid ones.")
        parser.set_defaults(**settings)
    return tuple(parser.parse_args_into_dataclasses(args=argv))


def read_settings(path: str | Path) -> dict[str, Any]:
    """A settings file as a dict: JSON, or YAML (needs ``pyyaml``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Settings file {path} does not exist.")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        settings = json.loads(text)
    else:
        import yaml  # transformers' own YAML reader needs it too

        settings = yaml.safe_load(text)
    if not isinstance(settings, dict):
        raise ValueError(f"Settings file {path} must hold a mapping of setting names to values.")
    return settings


@dataclasses.dataclass
class LoggingArguments:
    """How much the scripts say (``scripts/train.py`` uses ``TrainingArguments.log_level`` instead)."""

    log_level: str = dataclasses.field(
        default="info",
        metadata={
            "help": "Level of this package's messages on the main process (the others: warning).",
            "choices": LOG_LEVELS,
        },  # fmt: skip
    )


def configure_logging(log_level: str | int) -> None:
    """Show this package's log records (``Searching on ...``, the search's verdict, ``Policy saved to ...``)
    on stderr: at ``log_level`` on the main process, at WARNING on the others, as transformers' example
    scripts do. Other libraries keep their own verbosity."""
    level = logging.getLevelName(log_level.upper()) if isinstance(log_level, str) else log_level
    package_logger = logging.getLogger(__package__)
    if not package_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        package_logger.addHandler(handler)
        package_logger.propagate = False
    # RANK is set by torchrun and accelerate launch; reading it initialises no distributed state, which must
    # wait for the script's Accelerator and its settings
    is_main_process = os.environ.get("RANK", "0") == "0"
    package_logger.setLevel(level if is_main_process else max(level, logging.WARNING))


def is_user_error(error: BaseException) -> bool:
    """A missing file or dataset, a Hub that cannot be reached (offline mode, no network), or a
    ``ValueError`` from this package's own argument and data checks (a ``ValueError`` raised inside
    torch or another library is a bug and keeps its traceback)."""
    if isinstance(error, FileNotFoundError | ConnectionError):
        return True
    if not isinstance(error, ValueError) or error.__traceback__ is None:
        return False
    raised_in = Path(traceback.extract_tb(error.__traceback__)[-1].filename).resolve()
    return raised_in.is_relative_to(PACKAGE_ROOT) or raised_in.parent.name == "scripts"


def run_script(main: Callable[[list[str]], object], argv: Sequence[str] | None = None) -> None:
    """Run a script's ``main(argv)`` (which calls :func:`configure_logging` once it has parsed its flags); a
    user mistake ends the process with ``error: <message>`` on stderr and exit status 1 instead of a traceback."""
    try:
        main(list(sys.argv[1:] if argv is None else argv))
    except (ValueError, FileNotFoundError, ConnectionError) as error:
        if not is_user_error(error):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)
