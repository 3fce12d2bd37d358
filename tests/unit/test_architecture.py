"""Imports point inward: the pure core (config, parsers, rules) never reaches the shell or the network, and the
clients both adapter layers share (microsoft) reach neither layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELL_AND_IO = {
    "notifier",
    "intake",
    "microsoft",
    "sqlmodel",
    "sqlalchemy",
    "imapclient",
    "exchangelib",
    "msal",
    "httpx",
    "smtplib",
}
"""What the pure core never reaches: the shell, the database and the network."""
FORBIDDEN = {
    "config": {"parsers", "rules", "notifier", "intake", "microsoft", "samples"},
    "parsers": SHELL_AND_IO | {"rules", "structlog", "logging"},
    "rules": SHELL_AND_IO | {"structlog", "logging"},
    "notifier": {"intake", "sqlmodel", "sqlalchemy"},
    "microsoft": {"parsers", "rules", "notifier", "intake", "samples", "sqlmodel", "sqlalchemy"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_outside_its_layer(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def modules_importing(module: str) -> set[str]:
    """The repository's Python files that import ``module`` (``import m``, ``from m import x``)."""
    found = set()
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(name == module or name.startswith(f"{module}.") for name in names):
                found.add(str(path.relative_to(ROOT)))
    return found


def test_mail_containers_are_opened_only_by_the_parse_workers() -> None:
    """extract-msg and tnefparse are untrusted decoders: only parsers/containers.py calls them, and only the
    worker pool (and the tests that call it directly) reach that module, never the service's own code."""
    assert modules_importing("tnefparse") - {"tests/unit/test_containers.py"} == {"parsers/containers.py"}
    assert modules_importing("extract_msg") == {"parsers/containers.py"}
    assert {p for p in modules_importing("parsers.containers") if not p.startswith("tests/")} == {"intake/isolation.py"}


SESSION_OPENERS = {"intake/store.py", "intake/unit_of_work.py"}
"""The only modules that may open a database session: every write and read goes through a unit of work."""


def sessions_opened(path: Path) -> int:
    tree = ast.parse(path.read_text(), filename=str(path))
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == "Session" or getattr(node.func, "attr", None) == "Session")
    )


def test_only_the_store_and_the_unit_of_work_open_database_sessions() -> None:
    offenders = {
        str(path.relative_to(ROOT)): count
        for package in ("intake", "notifier", "rules", "parsers", "config")
        for path in (ROOT / package).rglob("*.py")
        if (count := sessions_opened(path)) and str(path.relative_to(ROOT)) not in SESSION_OPENERS
    }
    assert offenders == {}


CONNECTION_OPENERS = {"intake/store.py", "intake/unit_of_work.py", "intake/migrate.py"}
"""Besides sessions, an engine's own connections (``engine.connect()``, ``engine.begin()``) would be a way round
the unit of work: only the store, the unit of work and the migrations (which change the schema) open them."""


def connections_opened(path: Path) -> int:
    tree = ast.parse(path.read_text(), filename=str(path))
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"connect", "begin", "raw_connection"}
        and "engine" in ast.unparse(node.func.value).lower()
    )


def test_only_the_store_the_unit_of_work_and_the_migrations_open_connections() -> None:
    offenders = {
        str(path.relative_to(ROOT)): count
        for package in ("intake", "notifier", "rules", "parsers", "config")
        for path in (ROOT / package).rglob("*.py")
        if (count := connections_opened(path)) and str(path.relative_to(ROOT)) not in CONNECTION_OPENERS
    }
    assert offenders == {}


def test_the_workspace_reads_through_views_and_writes_through_commands() -> None:
    """The web pages and the accounts module never reach the database but through a unit of work: no
    SQLAlchemy, no store rows, no repositories in ``intake/web``; the accounts module holds rules only."""
    database = ("sqlalchemy", "sqlmodel", "intake.store", "intake.repositories", "intake.unit_of_work")
    web = {
        f"{module}: {path}"
        for module in database
        for path in modules_importing(module)
        if path.startswith("intake/web/")
    }
    assert web == set()
    assert "intake/accounts.py" not in modules_importing("sqlalchemy") | modules_importing("sqlmodel")


def test_pages_are_drawn_only_by_the_parse_workers() -> None:
    """pdfium (pypdfium2) reads hostile PDFs in C: only the page pictures, OCR, the PDF reader's glyphs and the
    PDF a form photographed page by page is kept as call it, and only the worker pool reaches those modules (the
    glyphs through the PDF reader, which only ``parse_document`` imports); the workspace asks the pool for a
    page picture, never draws one itself."""
    assert modules_importing("pypdfium2") - {"samples/scans.py", "samples/photos.py"} == {
        "parsers/pictures.py",
        "parsers/pages.py",
        "parsers/ocr/__init__.py",
        "parsers/glyphs.py",
    }
    assert {p for p in modules_importing("parsers.glyphs") if not p.startswith("tests/")} == {"parsers/pdf.py"}
    assert {p for p in modules_importing("parsers.ocr") if not p.startswith(("tests/", "parsers/"))} <= {
        "intake/isolation.py"
    }
    assert {p for p in modules_importing("parsers.pictures") if not p.startswith("tests/")} == {"intake/isolation.py"}
    assert {p for p in modules_importing("parsers.pages") if not p.startswith("tests/")} == {"intake/isolation.py"}
