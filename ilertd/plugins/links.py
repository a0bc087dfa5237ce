"""Action links as a built-in plugin: `GET /r/{token}` shows what a link would do, `POST /r/{token}` does it.

The token (see ilertd.domain.link_tokens) is signed with `security.secret_key`, bound to one
incident, user and action, and expires after `security.link_ttl`. A GET never acts: mail scanners
and link previews fetch every link of a message. The page's button POSTs; ntfy's action buttons
POST straight away.
"""

from __future__ import annotations

from html import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.domain.link_tokens import LinkError
from ilertd.hookspecs import PluginContext

# The token is in the URL: it must not leak through a Referer, a cache, or a frame.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'",
}
STATUS = {"invalid": 403, "expired": 410}


def _page(root: str, title: str, content: str, status: int = 200,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    """The web UI's look (its stylesheet, header), without its navigation: no login is needed here.
    `root` is the path ilertd is served under (`server.public_url`'s, or nothing)."""
    return HTMLResponse(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} · ilertd</title>'
        f'<link rel="stylesheet" href="{root}/ui/static/style.css"></head>\n'
        f'<body><header class="top"><a class="brand" href="{root}/ui/incidents">ilertd</a></header>\n'
        f'<main id="main"><section class="narrow"><h1>{escape(title)}</h1>\n{content}</section></main>'
        f"</body></html>\n",
        status_code=status, headers={**HEADERS, **(headers or {})})


def _refused(root: str, error: LinkError) -> HTMLResponse:
    return _page(root, "This link does not work", f"<p>{escape(str(error).capitalize())}.</p>",
                 STATUS[error.problem])


class Links:
    def __init__(self, context: PluginContext) -> None:
        self.context = context
        self.root = context.settings.server.public_path

    async def confirm(self, request: Request) -> HTMLResponse:
        """GET: the incident and a button; nothing changes."""
        try:
            page = await run_in_threadpool(self.context.replies.link_page, request.path_params["token"])
        except LinkError as error:
            return _refused(self.root, error)
        claim = page.claim
        verb = claim.action.capitalize()
        title = f"{verb} incident #{claim.incident_id}?"
        content = (f"<p><b>{escape(page.summary)}</b></p>\n<p>Status: {escape(page.status)}</p>\n"
                   f'<form method="post"><button type="submit">{escape(verb)} incident '
                   f"#{claim.incident_id}</button></form>\n"
                   f'<p><a href="{self.root}/ui/incidents/{claim.incident_id}">Open the incident</a></p>\n')
        return _page(self.root, title, content)

    async def act(self, request: Request) -> HTMLResponse:
        """POST: the link's action, once; answered with what happened."""
        try:
            answer = await run_in_threadpool(self.context.replies.follow_link, request.path_params["token"])
        except LinkError as error:
            return _refused(self.root, error)
        title = "Done" if answer.acted else "Nothing changed"
        if answer.retry:
            # Not a 200: a push app's action button (ntfy's POSTs this link) shows it failed.
            return _page(self.root, title, f"<p>{escape(answer.text)}</p>\n", 503, {"Retry-After": "2"})
        return _page(self.root, title, f"<p>{escape(answer.text)}</p>\n")


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    links = Links(context)
    return [Route("/r/{token}", links.confirm, methods=["GET"]),
            Route("/r/{token}", links.act, methods=["POST"])]

