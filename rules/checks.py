"""Checks on one form: every required field present (conditional ones when their condition holds) and valid."""

from __future__ import annotations

import datetime as dt

from config.forms import FormDefinition
from parsers.types import Form
from rules.types import Problem
from rules.validate import value_problem


def form_problems(form: Form, definition: FormDefinition, today: dt.date) -> list[Problem]:
    """Each missing required field and each invalid value on ``form``, in printed order."""
    invalid = {error.key: error.code for error in form.invalid}
    problems: list[Problem] = []
    for field in definition.fields:
        value = form.fields.get(field.key)
        code: str | None
        if field.key in invalid:
            code = invalid[field.key]
        elif value is None or value == ():
            code = "missing" if field.is_required(form.fields) else None
        else:
            code = value_problem(field, value, today)
        if code is not None:
            problems.append(Problem(form=form.kind, field=field.key, label=field.label, code=code))
    return problems
