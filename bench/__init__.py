"""The benchmark of ilertd: `python -m bench` measures ingest, baselines and scale against targets."""

from __future__ import annotations
