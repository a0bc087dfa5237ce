"""The API's OpenAPI 3.1 document (`GET /api/openapi.json`) and its page (`GET /api/docs`), built
from the mounted routes, the request specs their validators read and the answers' specs.

What a route takes and answers is not written here: its body is the spec its validator reads
(`USER_BODY` of ilertd.app.people, ...), its answer the spec beside the function that renders it
(ilertd.web.views), and what only the route knows (a summary, who may call it, its parameters,
its status codes) is its entry in ilertd.web.openapi_routes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ilertd import __version__
from ilertd.app.schema import (
    ArrayOf,
    JsonSchema,
    ObjectSpec,
    Spec,
    Vocabulary,
)
from ilertd.web.openapi_routes import (
    DOCS_PATH,
    ERRORS,
    EXTRA_OPERATIONS,
    JSON,
    OPENAPI_PATH,
    OPERATIONS,
    PLUGIN_ROUTE,
    Operation,
    mounted,
    openapi_path,
    path_params,
    undocumented,
)
from ilertd.web.services import Services

__all__ = ["DOCS_PATH", "OPENAPI_PATH", "mounted", "openapi_path", "undocumented"]


# --- the document -------------------------------------------------------------------------------


class Document:
    """Renders specs into one document, named objects into components/schemas (once each)."""

    def __init__(self, words: Vocabulary) -> None:
        self.words = words
        self.components: dict[str, JsonSchema] = {
            "Error": {
                "type": "object",
                "properties": {"status": {"type": "integer"}, "code": {"type": "string"},
                               "message": {"type": "string"}, "field": {"type": "string"}},
                "required": ["status", "code", "message"],
                "additionalProperties": False,
                "description": "Every refusal: status repeats the HTTP status, code is stable, field "
                               "names the field at fault.",
            },
        }

    def named(self, name: str, schema: JsonSchema) -> JsonSchema:
        known = self.components.setdefault(name, schema)
        if known != schema:
            raise ValueError(f"two different schemas are named {name!r}")
        return {"$ref": f"#/components/schemas/{name}"}

    def reply(self, spec: Spec) -> JsonSchema:
        if isinstance(spec, ObjectSpec) and spec.title:
            return self.named(spec.title, spec.schema(self.words))
        if isinstance(spec, ArrayOf) and isinstance(spec.item, ObjectSpec) and spec.item.title:
            return {"type": "array", "items": self.reply(spec.item)}
        return spec.schema(self.words)

    def request(self, spec: Spec, creating: bool) -> JsonSchema:
        if not isinstance(spec, ObjectSpec) or not spec.title:
            return spec.schema(self.words)
        # A body whose required fields differ between create and update is two schemas.
        base = spec.title.removesuffix("Body")
        name = (f"{base}Create" if creating else f"{base}Update") if spec.on_create else spec.title
        return self.named(name, spec.schema(self.words, creating))

    def operation(self, method: str, path: str, op: Operation) -> JsonSchema:
        params = [p.render() for p in (*path_params(path), *op.query)]
        rendered: JsonSchema = {"summary": op.summary, "tags": [op.tag],
                                "operationId": _operation_id(method, path)}
        if op.description:
            rendered["description"] = op.description
        if params:
            rendered["parameters"] = params
        if op.body is not None:
            schema = self.request(op.body, op.creating)
            rendered["requestBody"] = {"required": not op.body_optional,
                                       "content": {op.body_media: {"schema": schema}}}
        if op.auth == "none":
            rendered["security"] = []
        elif op.auth == "feed":
            rendered["security"] = [{"bearerAuth": []}, {"feedToken": []}]
        responses: dict[str, JsonSchema] = {str(op.status): self.success(op.status, op.reply, op.media)}
        for status, what, spec in op.also:
            responses[str(status)] = self.success(status, spec, op.media, what)
        errors = set(op.errors)
        if op.auth in ("token", "feed"):
            errors.add(401)
        if params and any(p.where == "path" for p in path_params(path)):
            errors.add(404)
        if op.body is not None or op.query:
            errors.add(400)
        if op.body is not None:
            errors.add(413)
        for status in sorted(errors):
            responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
        responses["default"] = {"$ref": "#/components/responses/default"}
        rendered["responses"] = responses
        return rendered

    def success(self, status: int, spec: Spec | None, media: str, what: str = "") -> JsonSchema:
        described: JsonSchema = {"description": what or {200: "OK", 201: "Created", 202: "Accepted",
                                                         204: "Done: no body"}.get(status, "OK")}
        if spec is not None:
            described["content"] = {media: {"schema": self.reply(spec)}}
        return described

    def build(self, operations: Sequence[tuple[str, str, Operation]]) -> JsonSchema:
        paths: dict[str, dict[str, JsonSchema]] = {}
        for method, route_path, op in operations:
            path = openapi_path(route_path)
            paths.setdefault(path, {})[method.lower()] = self.operation(method, path, op)
        error = {"$ref": "#/components/schemas/Error"}
        responses = {str(status): {"description": text, "content": {JSON: {"schema": error}}}
                     for status, text in ERRORS.items()}
        responses["default"] = {"description": "Any other refusal, in the same envelope.",
                                "content": {JSON: {"schema": error}}}
        return {
            "openapi": "3.1.0",
            "info": {"title": "ilertd", "version": __version__,
                     "description": "The HTTP API of ilertd, a self-hosted on-call alerting daemon: "
                                    "docs/API.md is the contract in words."},
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "security": [{"bearerAuth": []}],
            "paths": paths,
            "components": {
                "schemas": dict(sorted(self.components.items())),
                "responses": responses,
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer",
                                   "description": "An API token (`Bearer` in any case)."},
                    "feedToken": {"type": "apiKey", "in": "query", "name": "token",
                                  "description": "A calendar feed's read-only token, from its feed-url."},
                },
            },
        }


def _operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path.removeprefix("/api/")) if w]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def vocabulary(services: Services) -> dict[str, tuple[str, ...]]:
    """The run-time choices: the enabled channels' methods, the alert source types."""
    ctx = services.app.ctx
    return {"methods": ctx.methods(False), "reminder_methods": ctx.methods(True),
            "integration_types": services.app.sources.known_types()}


def document(routes: Iterable[BaseRoute], words: Vocabulary) -> JsonSchema:
    """The OpenAPI document of the mounted routes: every `/api` route (a plugin's without an entry as
    a plugin's route), then /healthz."""
    listed = [(method, path, OPERATIONS.get((method, path), PLUGIN_ROUTE))
              for method, path in mounted(routes)]
    listed += [(method, path, op) for (method, path), op in EXTRA_OPERATIONS.items()]
    return Document(words).build(listed)


# --- the page -----------------------------------------------------------------------------------


def _resolve(schema: Any, components: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """The schema with its $refs to components/schemas replaced by what they name, for reading."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name in seen:
                return {"$ref": ref}
            return _resolve(components[name], components, seen | {name})
        return {key: _resolve(value, components, seen) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_resolve(item, components, seen) for item in schema]
    return schema


def render_page(doc: Mapping[str, Any]) -> str:
    """Every operation with its parameters, body and answers, as one plain HTML page (no script, no
    asset from elsewhere)."""
    schemas = doc["components"]["schemas"]
    responses = doc["components"]["responses"]
    out = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(doc['info']['title'])} API</title>",
        "<style>body{font-family:sans-serif;max-width:70rem;margin:auto;padding:1rem;color:#222}"
        "h2{border-bottom:1px solid #ccc;margin-top:2rem}section{margin:1rem 0 2rem}"
        "code,pre{background:#f4f4f4}pre{padding:.5rem;overflow-x:auto;font-size:.85rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}"
        ".method{font-weight:bold;text-transform:uppercase}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>",
        f"<p>{html.escape(doc['info']['description'])} The machine-readable document: "
        f"<a href=\"{OPENAPI_PATH}\">{OPENAPI_PATH}</a>.</p>",
        "<p>Every refusal (any 4xx or 5xx below) has this body:</p>",
        _pre(schemas["Error"], schemas),
    ]
    by_tag: dict[str, list[tuple[str, str, Mapping[str, Any]]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append((method, path, op))
    out.append("<ul>" + "".join(f"<li><a href=\"#{_anchor(tag)}\">{html.escape(tag)}</a></li>"
                                for tag in by_tag) + "</ul>")
    for tag, ops in by_tag.items():
        out.append(f"<h2 id=\"{_anchor(tag)}\">{html.escape(tag)}</h2>")
        for method, path, op in ops:
            out.append(_render_operation(method, path, op, schemas, responses))
    out.append("</body></html>")
    return "\n".join(out)


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _pre(schema: Any, components: Mapping[str, Any]) -> str:
    return f"<pre>{html.escape(json.dumps(_resolve(schema, components), indent=2))}</pre>"


def _render_operation(method: str, path: str, op: Mapping[str, Any], schemas: Mapping[str, Any],
                      responses: Mapping[str, Any]) -> str:
    auth = ("none" if op.get("security") == [] else
            "bearer token or the feed's token" if op.get("security") else "bearer token")
    parts = [f"<section id=\"{html.escape(op['operationId'])}\">",
             f"<h3><span class=\"method\">{method}</span> <code>{html.escape(path)}</code></h3>",
             f"<p>{html.escape(' '.join([op['summary'] + '.', op.get('description', '')]).strip())}</p>",
             f"<p>Auth: {auth}.</p>"]
    if op.get("parameters"):
        parts.append("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>")
        for param in op["parameters"]:
            parts.append(f"<tr><td><code>{html.escape(param['name'])}</code></td><td>{param['in']}</td>"
                         f"<td><code>{html.escape(json.dumps(param['schema']))}</code></td>"
                         f"<td>{html.escape(param.get('description', ''))}</td></tr>")
        parts.append("</table>")
    if "requestBody" in op:
        for media, content in op["requestBody"]["content"].items():
            optional = "" if op["requestBody"]["required"] else " (optional)"
            parts.append(f"<p>Body{optional}, <code>{html.escape(media)}</code>:</p>")
            parts.append(_pre(content["schema"], schemas))
    for status, answer in op["responses"].items():
        ref = answer.get("$ref", "")
        answer = responses[ref.rsplit("/", 1)[1]] if ref else answer
        parts.append(f"<p><b>{html.escape(status)}</b> {html.escape(answer['description'])}</p>")
        if not ref:
            for media, content in answer.get("content", {}).items():
                parts.append(f"<p><code>{html.escape(media)}</code>:</p>")
                parts.append(_pre(content["schema"], schemas))
    parts.append("</section>")
    return "\n".join(parts)


def routes(services: Services, mounted_routes: Callable[[], Sequence[BaseRoute]]) -> list[Route]:
    """The document and its page, built once (from `mounted_routes()`, the application's routes)."""
    built: dict[str, Any] = {}

    def current() -> dict[str, Any]:
        if not built:
            doc = document(mounted_routes(), vocabulary(services))
            if prefix := services.config.server.public_path:
                # Without it a client resolves the paths against the host's root, not the sub-path.
                doc["servers"] = [{"url": prefix}]
            built.update(doc=doc, page=render_page(doc))
        return built

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(current()["doc"])

    async def docs(_request: Request) -> Response:
        return HTMLResponse(current()["page"])

    return [
        Route(OPENAPI_PATH, openapi_json, methods=["GET"]),
        Route(DOCS_PATH, docs, methods=["GET"]),
    ]

