"""What every section is given: the mode, the load generator, a scratch directory, earlier results."""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import LoadGenerator

WARM_UP_S = 1.0


@dataclass
class Context:
    quick: bool
    run_id: str
    scratch: Path
    load: LoadGenerator
    results: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    # Put before every progress line: which side and run of a `--compare` a worker measures.
    tag: str = ""
    _labels: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def seconds(self) -> float:
        """Duration of one load point."""
        return 3.0 if self.quick else 10.0

    def prefix(self, label: str) -> str:
        """A key prefix no other load point of any run uses: the run id, a counter, a label."""
        return f"{self.run_id}-{next(self._labels)}-{label}"

    def log(self, message: str) -> None:
        # Progress goes to stderr so that stdout holds only the table.
        print(f"[{time.monotonic() - self.started:6.1f}s] {self.tag}{message}", file=sys.stderr, flush=True)
