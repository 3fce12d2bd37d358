"""Needing your action: the team's open tasks, each resolved with a note, and a held-back reply sent by hand.

Each page reads a view and each button calls a command. A reply by hand starts from the automatic reply
that was held back and goes out through the outbox under the task's key, so a double submit sends once.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from intake import commands, views
from intake.accounts import Account
from intake.commands import InvalidHandReply, TaskAlreadyDone, UnknownTask
from intake.web.auth import now_of, page, service_of
from intake.web.render import Link, error_page, render

ALREADY_DONE = "That task was already done."
"""What a button on a task done since the page was shown (by someone else, or a double submit) leads to."""


@page()
def needing_action(request: Request, _account: Account, _form: FormData | None) -> Response:
    """The open team tasks, oldest first, each with a form to resolve it with a note."""
    return _tasks_page(request)


def _tasks_page(request: Request, *, errors: dict[int, str] | None = None, status_code: int = 200) -> Response:
    with service_of(request).services.unit_of_work() as uow:
        open_tasks = views.tasks(uow)
    return render(
        request,
        "tasks.jinja",
        status_code,
        tasks=open_tasks,
        replies=views.HAND_REPLY_TASKS,
        errors=errors or {},
        flash=request.session.pop("flash", None) if status_code == 200 else None,
    )


@page()
def resolve(request: Request, account: Account, form: FormData | None) -> Response:
    """POST: mark a task done, with the note saying what was done."""
    assert form is not None
    task_id = int(request.path_params["task_id"])
    note = str(form.get("note", ""))
    if not note.strip():
        return _tasks_page(request, errors={task_id: "Enter what was done"}, status_code=400)
    try:
        with service_of(request).services.unit_of_work() as uow:
            done = commands.resolve_task(uow, task_id, by=account.email, note=note, now=now_of(request))
    except UnknownTask:
        return _no_such_task(request)
    except TaskAlreadyDone:
        return _back_to_tasks(request, ALREADY_DONE)
    return _back_to_tasks(request, f"Task {done.id} is done.")


@page()
def hand_reply(request: Request, account: Account, form: FormData | None) -> Response:
    """GET: the reply by hand, prefilled from the reply that was held back; POST: send it through the outbox."""
    app = service_of(request)
    task_id = int(request.path_params["task_id"])
    with app.services.unit_of_work() as uow:
        draft = views.hand_reply_draft(uow, task_id, app.settings.service, _form_names(request))
    if draft is None:
        return _no_such_task(request)
    if form is None:
        if draft.task.resolved_at is not None:
            return _back_to_tasks(request, ALREADY_DONE)
        return render(request, "hand_reply.jinja", draft=draft, values={}, errors={})
    values = {name: str(form.get(name, "")) for name in ("to", "subject", "body")}
    try:
        with app.services.unit_of_work() as uow:
            sent = commands.send_hand_reply(
                uow, task_id, by=account.email, service=app.settings.service, now=now_of(request), **values
            )
    except InvalidHandReply as exc:
        return render(request, "hand_reply.jinja", 400, draft=draft, values=values, errors={exc.field: str(exc)})
    except TaskAlreadyDone:
        return _back_to_tasks(request, ALREADY_DONE)
    return _back_to_tasks(
        request,
        f"Your reply to {sent.to} about {sent.reference} is in the outbox, and task {task_id} is done."
        if sent.sent
        else f"This reply was sent already: task {task_id} is done.",
    )


def _back_to_tasks(request: Request, flash: str) -> Response:
    """After a button: the list of tasks, which says ``flash`` (post/redirect/get)."""
    request.session["flash"] = flash
    return RedirectResponse("/tasks", status_code=303)


def _form_names(request: Request) -> dict[str, str]:
    definitions = service_of(request).services.definitions
    return {kind: definition.name for kind, definition in definitions.forms.items()}


def _no_such_task(request: Request) -> Response:
    return error_page(
        request,
        404,
        "No task has this number",
        "It may have been done already. Go back to the list of tasks.",
        Link("/tasks", "Needing your action"),
    )
