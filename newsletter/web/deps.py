"""What the routes share: the web state built once per app, and the typed dependency that hands it
to a route (``w: WebState``), as FastAPI's own project template does in its ``deps.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import jinja2
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from newsletter.config import Settings
from newsletter.email_jobs.worker import EmailWorker
from newsletter.subscribers.confirmation import Confirmations
from newsletter.subscribers.tokens import Tokens
from newsletter.web.ratelimit import RateLimit
from newsletter.web.signup_writer import SignupWriter

STYLESHEET = "/static/site.css"
SUBSCRIBE, ARCHIVE = "/subscribe", "/archive"
PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("newsletter.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def wants_json(request: Request) -> bool:
    """A JSON body, or an Accept header that asks for JSON rather than a page."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@dataclass
class Web:
    """Everything the routes need; built once per app by ``create_app``."""

    settings: Settings
    engine: sa.Engine
    tokens: Tokens
    confirmations: Confirmations
    limit: RateLimit
    signups: SignupWriter | None = None  # set by create_app
    org: dict[str, str] = field(default_factory=dict)
    email_worker: EmailWorker | None = None

    def queued(self, asked: bool) -> None:
        """After a transaction that queued an email job: wake this process's email worker (a
        worker elsewhere finds it within ``email_job_interval``)."""
        if asked and self.email_worker is not None:
            self.email_worker.wake()

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """One of our pages: the site header (the organisation, Subscribe, Past issues) above
        ``template`` rendered with ``context``."""
        html = PAGES.get_template(template).render(**self.site(), **context)
        return HTMLResponse(html, status_code=status)

    def site(self) -> dict[str, Any]:
        """What the site header needs, in our pages and above an archived email alike."""
        return {
            "org": self.org,
            "stylesheet": self.url(STYLESHEET),
            "nav": [
                {"url": self.url(path), "label": label}
                for path, label in ((SUBSCRIBE, "Subscribe"), (ARCHIVE, "Past issues"))
            ],
        }

    def message(
        self, title: str, *paragraphs: str, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        context = {"link": None, "form": None, **extra}
        return self.page("message.html", status, title=title, paragraphs=paragraphs, **context)

    def answer(
        self,
        request: Request,
        title: str,
        text: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        """The one way a route or handler answers a person: ``{"detail": text}`` to JSON
        clients (``{"status": "ok", "message": text}`` on success), else a message page."""
        response: Response
        if wants_json(request):
            body = {"status": "ok", "message": text} if status < 400 else {"detail": text}
            response = JSONResponse(body, status_code=status)
        else:
            response = self.message(title, text, status=status, **extra)
        response.headers.update(headers or {})
        return response

    def url(self, path: str) -> str:
        return f"{self.settings.base_url}{path}"


def web_state(request: Request) -> Web:
    """The app's Web, for code that has the request (the error handlers)."""
    found: Web = request.app.state.web
    return found


async def get_web(request: Request) -> Web:
    """The dependency. ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its
    thread pool, a thread hop per request that cost the signup path a fifth of its throughput
    under load (bench/signup.py)."""
    return web_state(request)


WebState = Annotated[Web, Depends(get_web)]
