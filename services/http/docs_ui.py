"""Swagger UI at /docs and ReDoc at /redoc, working offline.

FastAPI's own pages load their scripts, styles, favicon and fonts from CDNs, so on a
site's network without the internet they are blank. Here the same pages (FastAPI's
`get_swagger_ui_html`, `get_redoc_html`) load the assets that the `fastapi-offline`
package ships, served by the app itself under /docs-assets; nothing is fetched from
elsewhere (no Google fonts, no Swagger validator badge). Like /openapi.json, the pages
are public: they say what the API is, not anything it holds.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
ASSET_DIR = Path(fastapi_offline.__file__).parent / "static"
"""swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png."""


def install_docs(api: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """GET /docs (Swagger UI), GET /redoc (ReDoc) and their assets, for `api` created with
    `docs_url=None, redoc_url=None`."""
    api.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = base(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{api.title}: Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            # no validator: Swagger UI would load its badge from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = base(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{api.title}: ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    api.add_route("/docs", swagger_ui, include_in_schema=False)
    api.add_route("/redoc", redoc, include_in_schema=False)
