"""A one-line progress bar on stderr, redrawn in place (no dependency)."""

from __future__ import annotations

import sys
import time

BAR_WIDTH = 28


class Progress:
    """Counts work and shows it; `enabled=False` keeps the count silent (library callers, tests)."""

    def __init__(self, total: int | None, what: str = "frames", stream=None, enabled: bool = True) -> None:
        """`stream` None: stderr as it is when the work starts (a caller may have redirected it)."""
        self.total = total or None
        self.what = what
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.count = 0
        self.started = time.perf_counter()
        self.interactive = self.stream.isatty()
        self._last_draw = 0.0

    @property
    def rate(self) -> float:
        return self.count / max(time.perf_counter() - self.started, 1e-9)

    def update(self, count: int = 1) -> None:
        self.count += count
        now = time.perf_counter()
        if now - self._last_draw >= 0.2 or self.count == self.total:
            self._last_draw = now
            self._draw(final=False)

    def close(self) -> None:
        """Print the final line, unless nothing was counted (an error line says why)."""
        if self.count:
            self._draw(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _draw(self, final: bool) -> None:
        if not self.enabled:
            return
        if self.total:
            done = min(self.count / self.total, 1.0)
            bar = "#" * round(done * BAR_WIDTH)
            line = f"[{bar:<{BAR_WIDTH}}] {self.count}/{self.total} {self.what} {self.rate:.1f}/s"
        else:
            line = f"{self.count} {self.what} {self.rate:.1f}/s"
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()
