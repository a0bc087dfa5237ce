"""The benchmark of ilertd: `python -m bench` measures ingest, baselines, scale and paging against targets."""

from __future__ import annotations
