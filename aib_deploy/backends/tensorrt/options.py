"""What `aib export engine` builds: batch profile, workspace, timing cache, compatibility.

There is no precision here: engines are strongly typed, so the ONNX file's own
types decide it (`aib export fp16` and `aib export int8` make such files).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ...card.model_card import ModelCard
from ...errors import AibError, OptionError

OPT_BATCH = 8  # the batch TensorRT tunes its kernels for, unless the profile stops below it


@dataclass
class EngineOptions:
    """The builder's settings; `aib export engine` and `build_engine` take the same object."""

    min_batch: int = 1
    opt_batch: int | None = None  # None: OPT_BATCH, within the profile
    max_batch: int | None = None  # None: the model card's largest batch
    workspace_mib: int = 1024
    timing_cache: Path | None = None
    version_compatible: bool = False
    hardware_compatible: bool = False

    def for_card(self, card: ModelCard) -> EngineOptions:
        """These options with the profile filled in from the model's card, checked."""
        max_batch = self.max_batch or card.batch_limit
        resolved = replace(self, max_batch=max_batch, opt_batch=self.opt_batch or min(OPT_BATCH, max_batch))
        resolved.validate()
        return resolved

    def validate(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise AibError(
                f"batch profile: need 1 <= --min-batch <= --opt-batch <= --max-batch, "
                f"got {self.min_batch}, {self.opt_batch}, {self.max_batch}"
            )
        if self.workspace_mib < 1:
            raise OptionError(f"--workspace: expected a positive size in MiB, got {self.workspace_mib}")
