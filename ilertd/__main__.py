"""`python -m ilertd`: the same entry point as the `ilertd` console script."""

from __future__ import annotations

from ilertd.cli import main

raise SystemExit(main())
