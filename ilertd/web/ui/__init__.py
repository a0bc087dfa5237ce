"""The web UI under /ui/: server-rendered pages over the same application layer as the API."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from ilertd.web.services import Services
from ilertd.web.ui import account, admin, incidents, oncall, policies, profile, schedules, sources
from ilertd.web.ui.core import Ui

STATIC = Path(__file__).parent / "static"


def routes(services: Services) -> list[BaseRoute]:
    ui = Ui(services)
    return [
        Mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static"),
        *account.routes(ui),
        *incidents.routes(ui),
        *oncall.routes(ui),
        *schedules.routes(ui),
        *policies.routes(ui),
        *sources.routes(ui),
        *profile.routes(ui),
        *admin.routes(ui),
    ]
