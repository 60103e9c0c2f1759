"""Preview: serve a compiled issue on localhost and rebuild it on every change; PNG screenshots.

The preview page reloads itself when a rebuild finishes (a small polling script, added only to
the preview, never to the email). A build error is shown in the page instead of the email, so
the browser tab stays useful while someone types.
"""

from __future__ import annotations

import contextlib
import errno
import html as html_lib
import secrets
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa
import watchfiles

from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.issues.build import build_issue, sync_markdown
from newsletter.issues.compiler import make_environment
from newsletter.issues.file import resolve_path

WIDTHS = (600, 375)
_RELOAD = """<script nonce="{nonce}">
(function () {{
  var seen = "{version}";
  setInterval(function () {{
    fetch("/__version").then(function (r) {{ return r.text(); }}).then(function (v) {{
      if (v !== seen) {{ location.reload(); }}
    }}).catch(function () {{}});
  }}, 700);
}})();
</script>"""
# The email's HTML comes from outside: nothing but our reload script (its nonce) may run.
POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; connect-src 'self'; "
    "style-src 'unsafe-inline'; img-src https: data:; font-src https:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class PreviewServer:
    """Builds ``ref`` now and after every change to its file, the templates or the content."""

    def __init__(self, settings: Settings, engine: sa.Engine, ref: str) -> None:
        self.settings = settings
        self.engine = engine
        self.path = resolve_path(ref, settings.issues_dir)
        self.version = 0
        self.html = ""
        self.text = ""
        self.error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watching = threading.Event()
        self._threads: list[threading.Thread] = []
        self.httpd: ThreadingHTTPServer | None = None
        self.nonce = secrets.token_urlsafe(16)
        self.env = make_environment(settings.templates_dir)
        self.rebuild()

    def rebuild(self, content_changed: bool = False) -> None:
        try:
            if content_changed:
                sync_markdown(self.settings, self.engine)
            result = build_issue(self.settings, self.engine, self.path, self.env)
            html, text, error = result.compiled.html, result.compiled.text, ""
        except NewsletterError as exc:
            html, text, error = "", "", str(exc)
        except Exception as exc:  # a half-saved file must not end the watching: show it, go on
            html, text, error = "", "", f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.html, self.text, self.error = html, text, error
            self.version += 1

    def page(self) -> str:
        with self._lock:
            script = _RELOAD.format(version=self.version, nonce=self.nonce)
            if self.error:
                return (
                    "<!doctype html><title>Build failed</title>"
                    "<body style='font-family:sans-serif'>"
                    f"<h1>Build failed</h1><pre>{html_lib.escape(self.error)}</pre>{script}</body>"
                )
            return self.html.replace("</body>", script + "</body>", 1)

    def start(self, host: str, port: int) -> tuple[str, int]:
        handler = _handler(self)
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise NewsletterError(
                    f"port {port} on {host} is already in use: stop what uses it "
                    "or pick another with --port"
                ) from None
            raise NewsletterError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self._threads = [
            threading.Thread(target=self.httpd.serve_forever, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._watching.wait(timeout=10)  # a save made once this returns is seen
        address = self.httpd.server_address
        return str(address[0]), int(address[1])

    def stop(self) -> None:
        self._stop.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _watch(self) -> None:
        """Watch the folders, not the files: an editor that saves by writing a new file and
        renaming it over the old one (vim, gedit, Kate, JetBrains) replaces the inode a file
        watch would follow, and the rebuilds would stop after the first save."""
        issue = self.path.resolve()
        content = self.settings.content_dir.resolve()
        templates = self.settings.templates_dir.resolve()
        folders = {issue.parent, templates} | ({content} if content.is_dir() else set())

        def relevant(_: watchfiles.Change, name: str) -> bool:
            path = Path(name).resolve()
            return path == issue or any(f in path.parents for f in (templates, content))

        for changes in watchfiles.watch(
            *sorted(folders),
            watch_filter=relevant,
            stop_event=self._stop,
            debounce=200,
            step=50,
            rust_timeout=200,
            yield_on_timeout=True,  # an empty first answer: the watch is in place
        ):
            self._watching.set()
            if not changes:
                continue
            changed = [Path(p).resolve() for _, p in changes]
            self.rebuild(content_changed=any(content in p.parents for p in changed))


def _handler(preview: PreviewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/__version":
                self._send(str(preview.version), "text/plain")
            elif self.path in ("/", "/index.html"):
                self._send(preview.page(), "text/html")
            elif self.path == "/index.txt":
                self._send(preview.text or preview.error, "text/plain")
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def _send(self, body: str, kind: str) -> None:
            data = body.encode("utf-8")
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", POLICY.format(nonce=preview.nonce))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def serve(
    settings: Settings,
    engine: sa.Engine,
    ref: str,
    *,
    host: str,
    port: int,
    echo: Callable[[str], None],
) -> None:
    """Serve until Ctrl-C."""
    server = PreviewServer(settings, engine, ref)
    bound_host, bound_port = server.start(host, port)
    echo(f"previewing {server.path} at http://{bound_host}:{bound_port}/ (text: /index.txt)")
    echo("rebuilds when the issue file, a template or a post changes; Ctrl-C stops")
    if server.error:
        echo(f"build failed: {server.error}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def screenshots(
    html: str, out_dir: Path, slug: str, *, chromium: str, widths: Iterable[int] = WIDTHS
) -> list[Path]:
    """Full-page PNGs of ``html`` at each width, rendered by headless Chromium."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not Path(chromium).is_file():
        raise NewsletterError(
            f"Chromium not found at {chromium}: install Debian's chromium package "
            "or set chromium_path"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            for width in widths:
                page = browser.new_page(viewport={"width": width, "height": 800})
                # remote images that never load must not stop the screenshot
                with contextlib.suppress(PlaywrightError):
                    page.set_content(html, wait_until="load", timeout=15_000)
                path = out_dir / f"{slug}-{width}.png"
                page.screenshot(path=str(path), full_page=True)
                page.close()
                written.append(path)
        finally:
            browser.close()
    return written
