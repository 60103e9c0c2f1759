"""THE ROUTE WALK: every route of the app under /admin, as each role and signed out.

Routes are found in ``app.routes``, so a route added later is walked without touching this
file. Each must depend on the gate (``require(permission)``, a ``Gate`` among its
dependencies, its router's included) unless it is one of the sign-in pages listed in PUBLIC_ADMIN. Then:
- signed out: GET -> 303 to /admin/login?next=..., any other method -> 401;
- a role without the gate's permission -> 403;
- a role with it -> neither 401 nor 403, and no crash (500).
Path parameters are filled with things that exist: the sample issue ``2016-q3``, a token
``x``, and 1 for numbers. Each request gets a fresh session (a walked route may end one).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from starlette.convertors import Convertor, FloatConvertor, IntegerConvertor
from starlette.routing import BaseRoute, Mount

from newsletter.models import Role
from newsletter.staff.roles import Permission, can
from newsletter.web.admin.auth import Gate
from tests.admin.conftest import add_staff, sign_in

ISSUE, TOKEN = "2016-q3", "x"
PUBLIC_ADMIN = {
    ("GET", "/admin/login"),
    ("POST", "/admin/login"),
    ("POST", "/admin/logout"),
    ("GET", "/admin/link/{token}"),
    ("POST", "/admin/link/{token}"),
    ("GET", "/admin/login/code"),
    ("POST", "/admin/login/code"),
}


@dataclass(frozen=True)
class Walked:
    method: str
    template: str  # the route's path with its {parameters}
    url: str
    permissions: frozenset[Permission]  # of every gate on the way (none: not gated)

    def allows(self, role: Role) -> bool:
        return all(can(role, p) for p in self.permissions)


def _gates(dependant: Dependant) -> Iterator[Gate]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, Gate):
            yield sub.call
        yield from _gates(sub)


def _filled(path: str, convertors: dict[str, Convertor[Any]]) -> str:
    url = path
    for name, convertor in convertors.items():
        if isinstance(convertor, IntegerConvertor | FloatConvertor):
            value = "1"
        elif "token" in name:
            value = TOKEN
        else:
            value = ISSUE
        url = url.replace(f"{{{name}}}", value)
    return url


def _leaves(routes: list[BaseRoute]) -> Iterator[Any]:
    """Every route as the app serves it. FastAPI keeps an included router as one entry whose
    ``effective_route_contexts()`` are its routes with the prefix and the router's dependencies
    applied (``path_format``, ``dependant``, ``methods``); a route added on the app is itself."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            yield from contexts()
        else:
            yield route


def admin_routes(app: FastAPI) -> list[Walked]:
    walked = []
    for route in _leaves(app.routes):
        path = str(getattr(route, "path_format", None) or getattr(route, "path", ""))
        if isinstance(getattr(route, "original_route", route), Mount):
            assert not path.startswith("/admin"), f"a mount inside /admin: {path}"
            continue
        if not (path == "/admin" or path.startswith("/admin/")):
            continue
        dependant = getattr(route, "dependant", None)
        gates = list(_gates(dependant)) if dependant is not None else []
        url = _filled(path, getattr(route, "param_convertors", {}))
        for method in sorted(set(route.methods or {"GET"}) - {"HEAD"}):
            walked.append(Walked(method, path, url, frozenset(g.permission for g in gates)))
    assert walked, "no /admin route found: has FastAPI changed how it keeps routes?"
    return walked


def test_every_admin_route_has_the_gate_or_is_a_sign_in_page(admin_app):
    walked = admin_routes(admin_app)
    found = {(w.method, w.template) for w in walked}
    assert found >= PUBLIC_ADMIN, f"listed as public but gone: {PUBLIC_ADMIN - found}"
    ungated = {(w.method, w.template) for w in walked if not w.permissions}
    assert ungated == PUBLIC_ADMIN, f"/admin routes without require(...): {ungated - PUBLIC_ADMIN}"
    # the ones this walk must at least see
    for expected in [("GET", "/admin"), ("GET", "/admin/account"), ("GET", "/admin/activity")]:
        assert expected in found


def _request(client: TestClient, walked: Walked, form: dict[str, str], headers: dict[str, str]):
    if walked.method == "GET":
        return client.get(walked.url, follow_redirects=False)
    return client.request(
        walked.method, walked.url, data=form, headers=headers, follow_redirects=False
    )


def test_signed_out_every_gated_route_redirects_or_refuses(admin_app, admin_settings):
    client = TestClient(admin_app, base_url=admin_settings.base_url)
    same = {"Origin": admin_settings.base_url, "Sec-Fetch-Site": "same-origin"}
    for walked in admin_routes(admin_app):
        if not walked.permissions:
            continue
        answer = _request(client, walked, {}, same)
        where = f"{walked.method} {walked.url}"
        if walked.method == "GET":
            assert answer.status_code == 303, where
            assert answer.headers["location"].startswith("/admin/login?next="), where
        else:
            assert answer.status_code == 401, where
        assert "set-cookie" not in answer.headers, where


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_what_its_permissions_allow(role, admin_app, admin_settings, admin_engine):
    staff = add_staff(admin_engine, role)
    checked = 0
    for walked in admin_routes(admin_app):
        if not walked.permissions:
            continue
        client = sign_in(admin_app, admin_settings, admin_engine, staff)  # a fresh session
        form = {"csrf_token": client.csrf_token}
        headers = {"Origin": client.origin, "Sec-Fetch-Site": "same-origin"}
        answer = _request(client.client, walked, form, headers)
        needs = sorted(walked.permissions)
        where = f"{role} {walked.method} {walked.url} (needs {', '.join(needs)})"
        if walked.allows(role):
            assert answer.status_code not in (401, 403), where
            assert answer.status_code < 500, where
        else:
            assert answer.status_code == 403, where
            missing = [p for p in needs if not can(role, p)]
            assert any(p.replace("_", " ") in answer.text for p in missing), where
        checked += 1
    assert checked >= 5


def test_the_permissions_cover_the_roles():
    """Each role can do what the one before it can; only admin manages staff."""
    order = list(Role)
    for lower, higher in itertools.pairwise(order):
        assert {p for p in Permission if can(lower, p)} < {p for p in Permission if can(higher, p)}
    assert [r for r in Role if can(r, Permission.manage_staff)] == [Role.admin]
