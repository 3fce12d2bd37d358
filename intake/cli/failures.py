"""What goes wrong around the service, said in one line: the database, the disk, the settings' variables.

These failures are the machine's or the operator's, not the mail's and not bugs: whoever runs the command can
fix them, so they get one line saying what to fix and a non-zero exit, never a traceback. A failure not
recognised here is a bug and keeps its traceback. No line repeats a database error's full text: SQLAlchemy's
carries the statement and its parameters, which can be patient data.
"""

from __future__ import annotations

import errno
import json
import re
import typing
from collections.abc import Mapping

from pydantic import BaseModel
from pydantic_settings import SettingsError
from sqlalchemy.exc import DBAPIError

from config.settings import Settings

ENV_PREFIX = "NMSS_"


def describe(error: BaseException) -> str | None:
    """One line saying what went wrong and what to do about it, or None when ``error`` is not an operational
    failure (a bug)."""
    from intake.isolation import WorkerUnavailable  # only once something failed: the parsers are slow to import

    if isinstance(error, DBAPIError):
        return _database(error)
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "the disk is full (no space left on device): free some space, then run the command again"
    if isinstance(error, WorkerUnavailable):
        return "a parse worker process could not be started: check the machine's free memory and process limits"
    return None


def _database(error: DBAPIError) -> str | None:
    driver = error.orig
    first_line = str(driver).strip().splitlines()[0] if str(driver).strip() else type(driver).__name__
    said = first_line.lower()
    sqlstate = getattr(driver, "sqlstate", None)  # PostgreSQL's error code (psycopg); SQLite has none
    if "database is locked" in said or sqlstate == "55P03":
        return (
            "the database is locked by another program (a backup, or a sqlite3 shell in a transaction): "
            "let it finish, then run the command again"
        )
    if "readonly database" in said or sqlstate == "25006":
        return (
            "the database is read-only: give the service one it can write (the SQLite file and its folder "
            "writable by this user, or a PostgreSQL primary rather than a standby)"
        )
    if "database or disk is full" in said or sqlstate == "53100":
        return "the disk holding the database is full: free some space, then run the command again"
    if "file is not a database" in said:
        return (
            "the database file is not a SQLite database, or is damaged: check database_url (NMSS_DATABASE_URL), "
            "or restore the file from a backup"
        )
    if "unable to open database file" in said:
        return "cannot open the database file: check database_url (NMSS_DATABASE_URL) and that its folder is writable"
    connecting = sqlstate is None or sqlstate.startswith("08") or sqlstate == "57P03"
    if type(driver).__module__.startswith("psycopg") and connecting:
        # psycopg's first line names the server and what happened (refused, timed out), never the password.
        return (
            f"cannot reach the database ({first_line}): check that PostgreSQL is running there and "
            "database_url (NMSS_DATABASE_URL) is right"
        )
    return None


_FIELD = re.compile(r'field "([^"]+)"')


def settings_variables(error: SettingsError, environ: Mapping[str, str]) -> str:
    """Which ``NMSS_`` variables pydantic-settings could not read, without their values (they may be secrets).

    A list or a table (``service.team_addresses``, ``limits``) given in a variable must be written as JSON.
    """
    match = _FIELD.search(str(error))
    field = match.group(1) if match else ""
    prefix = f"{ENV_PREFIX}{field}".upper()
    suspects = sorted(
        name
        for name, value in environ.items()
        if (name.upper() == prefix or name.upper().startswith(prefix + "__"))
        and _wants_json(name.upper().removeprefix(ENV_PREFIX).lower().split("__"))
        and not _is_json(value)
    )
    where = ", ".join(suspects) if suspects else f"an {prefix} variable"
    return (
        f"invalid settings: {where} is not valid JSON; lists and tables in NMSS_ variables are written as JSON, "
        """e.g. NMSS_SERVICE__TEAM_ADDRESSES='["team@nhs.net"]'"""
    )


def _wants_json(path: list[str]) -> bool:
    """Whether the setting at ``path`` (``["service", "team_addresses"]``) is a list or a table."""
    model: type[BaseModel] | None = Settings
    annotation: object = None
    for part in path:
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model is not None or typing.get_origin(annotation) in (list, dict)


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True
