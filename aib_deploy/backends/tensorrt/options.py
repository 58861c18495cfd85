"""What `aib export engine` builds: precision, batch profile, workspace, compatibility."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...contract import DEFAULT_MAX_BATCH
from ...errors import AibError


@dataclass
class EngineOptions:
    """The builder's settings; `aib export engine` and `build_engine` take the same object."""

    fp16: bool = False
    int8: bool = False
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = DEFAULT_MAX_BATCH
    workspace_mib: int = 1024
    timing_cache: Path | None = None
    version_compatible: bool = False
    hardware_compatible: bool = False

    def validate(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise AibError(f"batch profile: need 1 <= --min-batch <= --opt-batch <= --max-batch, "
                           f"got {self.min_batch}, {self.opt_batch}, {self.max_batch}")  # fmt: skip
        if self.workspace_mib < 1:
            raise AibError(f"--workspace: expected a positive size in MiB, got {self.workspace_mib}")

    @property
    def precision(self) -> str:
        return "+".join(name for name, on in (("fp16", self.fp16), ("int8", self.int8)) if on) or "fp32"
