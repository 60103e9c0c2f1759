"""The reference for bench/signup.py: the same framework's bare endpoint, served the same way.

A FastAPI app with one ``POST /subscribe`` that reads the form and answers 303 to a thanks page,
as the real form does, and nothing else: no validation, no database, no email. Served by uvicorn
with ``newsletter serve``'s own configuration (``newsletter.web.server.uvicorn_config``), so the
ratio of the two is what the newsletter's work costs on top of the framework.

    python bench/bare_signup.py --port 8123
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def app() -> FastAPI:
    """Module-level imports: FastAPI reads the handlers' annotations as names of this module."""
    bare = FastAPI()

    @bare.get("/healthz")
    def healthz() -> Response:
        return Response("ok")

    @bare.post("/subscribe")
    async def subscribe(request: Request) -> Response:
        form = await request.form()
        if not form.get("email"):
            return Response("no address", status_code=400)
        return RedirectResponse("/subscribe/thanks", status_code=303)

    return bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    from newsletter.web.server import uvicorn_config

    uvicorn.Server(uvicorn_config(app(), host="127.0.0.1", port=args.port)).run()


if __name__ == "__main__":
    main()
