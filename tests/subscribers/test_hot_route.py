"""web/hot_route.py: ``POST /subscribe`` is answered without routing, and gets everything a route
gets: the app's exception handlers (by status, then by class), the Edge's 500 and headers for a
crash, CORS on the real POST, the form's files closed after the answer."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from newsletter.config import Settings
from newsletter.web.edge import Edge
from newsletter.web.hot_route import HotRoute
from newsletter.web.proxies import Proxies
from tests.subscribers.conftest import make_app, status_of


class Refused(Exception):
    pass


class RefusedHarder(Refused):
    pass


def _app(seen: dict[str, Any]) -> FastAPI:
    """An app with the Edge, the hot route and handlers registered as web/errors.py does."""

    async def endpoint(request: Request) -> Response:
        form = await request.form()
        seen["form"] = form
        what = form.get("do", "")
        if what == "teapot":
            raise HTTPException(418, "short and stout")
        if what == "gone":
            raise HTTPException(410, "gone")
        if what == "refuse":
            raise RefusedHarder("no")
        if what == "crash":
            raise RuntimeError("a bug")
        return PlainTextResponse("hot", status_code=201)

    app = FastAPI()

    @app.post("/hot")
    def routed() -> Response:  # pragma: no cover - the hot route answers first
        return PlainTextResponse("routed")

    @app.post("/cold")
    def cold() -> Response:
        return PlainTextResponse("routed")

    def by_status(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("status handler", status_code=418)

    async def by_class(request: Request, exc: Exception) -> Response:  # async: awaited
        return PlainTextResponse(f"class handler for {type(exc).__name__}", status_code=400)

    def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"http {exc.status_code}", status_code=exc.status_code)

    app.add_exception_handler(418, by_status)
    app.add_exception_handler(Refused, by_class)
    app.add_exception_handler(HTTPException, http)
    app.add_middleware(HotRoute, method="POST", path="/hot", endpoint=endpoint)
    app.add_middleware(
        Edge, proxies=Proxies([]), base_url="http://testserver", limits={"/hot": 2048}
    )
    return app


def test_the_hot_route_answers_first_and_errors_reach_the_apps_handlers():
    seen: dict[str, Any] = {}
    with TestClient(_app(seen), raise_server_exceptions=False) as client:
        ok = client.post("/hot", data={"do": ""})
        assert (ok.status_code, ok.text) == (201, "hot")
        assert ok.headers["x-frame-options"] == "DENY"  # inside the Edge
        assert client.post("/cold").text == "routed"  # any other path: the router
        assert client.get("/hot").status_code == 405  # any other method: the router
        teapot = client.post("/hot", data={"do": "teapot"})
        assert (teapot.status_code, teapot.text) == (418, "status handler")  # status first
        gone = client.post("/hot", data={"do": "gone"})
        assert (gone.status_code, gone.text) == (410, "http 410")  # then the class
        refused = client.post("/hot", data={"do": "refuse"})
        assert (refused.status_code, refused.text) == (400, "class handler for RefusedHarder")
        large = client.post("/hot", data={"do": "x" * 4000})  # the Edge's limit, as a 413
        assert (large.status_code, large.text) == (413, "http 413")
        crash = client.post("/hot", data={"do": "crash"})  # no handler: the Edge's 500
        assert crash.status_code == 500 and "went wrong on our side" in crash.text
        assert crash.headers["x-content-type-options"] == "nosniff"


def test_the_forms_files_are_closed_after_the_answer():
    seen: dict[str, Any] = {}
    with TestClient(_app(seen)) as client:
        answer = client.post("/hot", data={"do": ""}, files={"upload": ("a.txt", b"hello")})
    assert answer.status_code == 201
    upload = seen["form"]["upload"]
    assert isinstance(upload, UploadFile) and upload.file.closed


@pytest.mark.parametrize("origin", ["https://mpat.example.org", "https://evil.example"])
def test_a_cross_site_signup_gets_cors_headers_only_from_an_allowed_origin(
    web_settings, store, origin
):
    settings = Settings(allowed_origins=["https://mpat.example.org"])
    with TestClient(make_app(settings, store), base_url=settings.base_url) as client:
        answer = client.post(
            "/subscribe",
            json={"email": "ann@example.org"},
            headers={"Origin": origin, "Accept": "application/json"},
        )
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    allowed = answer.headers.get("access-control-allow-origin")
    assert allowed == (origin if origin == "https://mpat.example.org" else None)
    assert status_of(store, "ann@example.org") == "pending"


def test_the_signup_route_is_still_listed_by_the_router(client):
    """A method no route takes is a 405 that names the signup's (Starlette names the first
    route that matched the path)."""
    answer = client.put("/subscribe", data={"email": "ann@example.org"})
    assert answer.status_code == 405 and "POST" in answer.headers["allow"]
