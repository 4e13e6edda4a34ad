"""How the console's files are served: allow-list, headers, redirects, the OpenAPI entry."""

from __future__ import annotations

import re

import pytest

from service.console.routes import ASSETS, CSP, HERE, VENDORED, path_of

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def assert_security_headers(resp) -> None:
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, name


def test_the_policy_forbids_inline_script_and_other_origins():
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CSP and "http" not in CSP and "*" not in CSP


@pytest.mark.parametrize("path", ["/", "/console/"])
async def test_root_redirects_to_the_console(client, path):
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/console"
    assert_security_headers(resp)


async def test_the_page_is_served_with_the_security_headers(client):
    resp = await client.get("/console")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert_security_headers(resp)
    page = await resp.text()
    assert "<title>" in page and 'id="login-form"' in page


@pytest.mark.parametrize("name", sorted(ASSETS))
async def test_each_asset_has_its_type_and_the_headers(client, name):
    resp = await client.get(f"/console/{name}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == ASSETS[name]
    assert_security_headers(resp)
    assert await resp.read() == path_of(name).read_bytes()


@pytest.mark.parametrize("path", [
    "/console/routes.py",
    "/console/__init__.py",
    "/console/index.html",
    "/console/..%2Froutes.py",
    "/console/%2e%2e%2fapp.py",
    "/console/..%2F..%2Fconfig.py",
    "/console/../app.py",
    "/console/app.js/",
    "/console/APP.JS",
    "/console/app.js%00.py",
    "/console/vendor/uPlot.min.css",
    "/console/vendor%2FuPlot.iife.min.js",
    "/console/LICENSE",
    "/console/README.md",
])
async def test_nothing_outside_the_allow_list_is_served(client, path):
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 404
    body = await resp.json()
    assert body["error"] == "not_found"
    assert "error_description" in body


async def test_other_methods_are_refused_in_json(client):
    resp = await client.post("/console")
    assert resp.status == 405
    assert (await resp.json())["error"] == "method_not_allowed"


def test_no_console_module_passes_300_lines_and_the_vendored_chart_is_noted():
    for name in ASSETS:
        if name.endswith(".js") and name not in VENDORED:
            lines = path_of(name).read_text().count("\n")
            assert lines <= 300, (name, lines)
    notes = (HERE / "vendor" / "README.md").read_text()
    assert "1.6.32" in notes and "MIT" in notes
    assert (HERE / "vendor" / "LICENSE").read_text().startswith("The MIT License")


def test_the_page_has_no_inline_script_or_style_and_loads_only_listed_files():
    page = (HERE / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all("src=" in tag for tag in scripts)
    assert " style=" not in page and "<style" not in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
    for ref in re.findall(r'(?:src|href)="(/console/[^"]+)"', page):
        assert ref.removeprefix("/console/") in ASSETS, ref
    for name in ASSETS:
        if name.endswith(".js"):
            source = path_of(name).read_text()
            for imported in re.findall(r"from '\./([^']+)'", source):
                assert imported in ASSETS, f"{name} imports {imported}, which is not served"
            # User text goes in as text: no HTML parsing sinks, no eval.
            sinks = re.findall(r"\.(?:inner|outer)HTML|insertAdjacentHTML|\beval\(|"
                               r"new Function|document\.write", source)
            assert sinks == [], (name, sinks)


async def test_the_console_routes_are_public_and_documented(client):
    document = await (await client.get("/openapi.json")).json()
    expected = {"/": None, "/console/": None, "/console": "text/html",
                "/console/{sheet}.css": "text/css", "/console/{module}.js": "text/javascript"}
    for path, content_type in expected.items():
        operation = document["paths"][path]["get"]
        assert operation["tags"] == ["console"]
        assert operation["security"] == []
        if content_type:
            assert list(operation["responses"]["200"]["content"]) == [content_type]
    modules = document["paths"]["/console/{module}.js"]["get"]["parameters"][0]["schema"]["enum"]
    assert sorted(f"{m}.js" for m in modules) == sorted(n for n in ASSETS if n.endswith(".js"))
