"""Team tasks through the CLI: what the service could not do is listed once, closed with a note, and gone."""

from __future__ import annotations

import json

from samples.scenarios import Scenario, deliver_to_maildir

from .conftest import Service
from .test_resubmission import Referral


def tasks(service: Service, *args: str) -> list[dict[str, object]]:
    result = service.invoke("tasks", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


def held_back_reply(service: Service) -> dict[str, object]:
    """Four incomplete referrals from one pharmacy in a day, with a limit of three replies: the fourth reply
    is held back for the team."""
    (service.root / "nmss-intake.toml").write_text("[outgoing.reply_limits]\nper_sender_per_day = 3\n")
    referrals = [Referral(seed=30 + i) for i in range(4)]
    for other in referrals[1:]:
        other.sender = referrals[0].sender
    raws = [r.email("form2", "form1", minute=i) for i, r in enumerate(referrals)]
    deliver_to_maildir(service.mailbox, [Scenario(f"m{i}", "", raw, "incomplete") for i, raw in enumerate(raws)])
    assert service.invoke("run", "--once").exit_code == 0
    [task] = tasks(service)
    return task


def test_a_task_marked_done_leaves_the_list_and_the_digest_and_keeps_who_and_the_note(service: Service) -> None:
    task = held_back_reply(service)

    done = service.invoke("tasks", "done", str(task["id"]), "--note", "Phoned the pharmacy", "--by", "alice")

    assert done.exit_code == 0, done.output
    assert done.stdout == f"Task {task['id']} ({task['reference']}) done: {task['action']}.\n"
    assert tasks(service) == []
    [closed] = tasks(service, "--all")
    assert (closed["resolved_by"], closed["note"]) == ("alice", "Phoned the pharmacy")
    assert closed["resolved_at"] is not None
    assert "NEEDING YOUR ACTION (0)" in service.invoke("digest", "--print").stdout
    assert service.invoke("tasks", "list").stdout == "No task is open.\n"


def test_the_list_shows_each_open_task_on_one_line_with_its_reference_and_what_to_do(service: Service) -> None:
    task = held_back_reply(service)

    text = service.invoke("tasks", "list").stdout

    assert text == f"{task['id']:>5}  {task['reference']:<13}  {task['action']}\n"
    assert json.loads(service.invoke("status", "--json").stdout)["open_tasks"] == 1


def test_mistakes_in_tasks_done_are_one_line_errors(service: Service) -> None:
    task = held_back_reply(service)
    service.invoke("tasks", "done", str(task["id"]), "--note", "Done", "--by", "alice")

    again = service.invoke("tasks", "done", str(task["id"]), "--note", "Again")
    unknown = service.invoke("tasks", "done", "999", "--note", "Nothing")
    blank = service.invoke("tasks", "done", str(task["id"]), "--note", "  ")

    assert (again.exit_code, again.stderr.count("\n")) == (1, 1)
    assert again.stderr.startswith(f"Error: task {task['id']} was done on ")
    assert again.stderr.endswith(" by alice\n")
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: no task has id 999\n")
    assert blank.exit_code == 2
    assert "--note" in blank.stderr
