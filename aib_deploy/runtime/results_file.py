"""JSON lines of results, in the one schema: a model record, then frame records; `-` is standard output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from ..card.model_card import ModelCard
from ..errors import AibError
from .result import Prediction, model_record

STDOUT = "-"


def messages_stream(results_path: str | Path | None) -> TextIO:
    """Where a command's human lines go: standard error when the results themselves take standard output."""
    return sys.stderr if str(results_path) == STDOUT else sys.stdout


class ResultsFile:
    """Opened on the first record, so a run that fails before any result writes no empty file."""

    def __init__(self, path: str | Path, card: ModelCard, backend: str) -> None:
        self.path = str(path)
        self.header = model_record(card, backend)
        self.stream: TextIO | None = None

    def _open(self) -> TextIO:
        if self.path == STDOUT:
            return sys.stdout
        target = Path(self.path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return open(target, "w", encoding="utf-8")
        except OSError as error:
            raise AibError(f"results file {target}: cannot write it ({error.strerror})") from None

    def write(self, prediction: Prediction, source: str, frame_index: int, **extra: object) -> None:
        if self.stream is None:
            self.stream = self._open()
            self._line(self.header)
        self._line({**prediction.to_dict(source, frame_index), **extra})

    def _line(self, record: dict) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.stream is not sys.stdout:
            self.stream.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
