"""Several mailboxes (``[[mailboxes]]``): each polled, filed, recorded and reported on its own."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from config.settings import load_settings
from intake.bootstrap import bootstrap
from intake.daemon import LeaseWatch, add_jobs
from samples.scenarios import accepted, deliver_to_maildir, incomplete, mar_registration

from .conftest import Service, today

TWO_MAILBOXES = """
[[mailboxes]]
name = "referrals"
path = "var/referrals"

[[mailboxes]]
name = "mar"
path = "var/mar"
"""


def folders(maildir: Path) -> dict[str, int]:
    return {f.name[1:]: len(list((f / "cur").iterdir())) for f in sorted(maildir.glob(".*")) if (f / "cur").is_dir()}


def test_each_mailbox_is_polled_filed_recorded_and_reported_on_its_own(service: Service) -> None:
    (service.root / "nmss-intake.toml").write_text(TWO_MAILBOXES)
    referrals, mar = service.root / "var" / "referrals", service.root / "var" / "mar"
    deliver_to_maildir(referrals, [accepted(today(), seed=1), incomplete(today(), seed=2)])
    deliver_to_maildir(mar, [mar_registration(today(), seed=3)])

    first = service.invoke("run", "--once")
    again = service.invoke("run", "--once")

    assert first.exit_code == 0, first.output
    assert "Took 2 message(s) from mailbox referrals:" in first.stdout
    assert "Took 1 message(s) from mailbox mar:" in first.stdout
    assert again.stdout.splitlines()[:2] == ["Nothing new in mailbox referrals.", "Nothing new in mailbox mar."]
    # Filed in folders of the mailbox each came from; a ledger per mailbox (its source).
    assert folders(referrals) == {"Accepted": 1, "Incomplete": 1}
    assert folders(mar) == {"MAR": 1}
    assert Counter(dict(service.rows("SELECT source, count(*) FROM message GROUP BY source"))) == Counter(
        {"referrals": 2, "mar": 1}
    )
    # And a health of its own each.
    status = json.loads(service.invoke("status", "--json").stdout)
    polled = {m["mailbox"]: m for m in status["mailboxes"]}
    assert list(polled) == ["referrals", "mar"]
    assert all(m["last_success_at"] for m in polled.values())
    checked = service.invoke("config", "check").stdout
    assert "  mail in    Maildir var/referrals (referrals)" in checked
    assert "  mail in    Maildir var/mar (mar)" in checked


def test_the_daemon_has_a_poller_for_each_mailbox(service: Service) -> None:
    (service.root / "nmss-intake.toml").write_text(TWO_MAILBOXES)
    app = bootstrap(load_settings())
    scheduler = BackgroundScheduler()
    add_jobs(scheduler, app, leases=[LeaseWatch(p.lease) for p in app.pollers])

    jobs = {job.id: job for job in scheduler.get_jobs()}

    assert set(jobs) == {"poll", "poll-mar", "outbox", "retention", "lease-referrals", "lease-mar"}
    assert [jobs[j].args[2].mailbox.name for j in ("poll", "poll-mar")] == ["referrals", "mar"]
    assert jobs["poll"].executor != jobs["poll-mar"].executor, "a slow message in one holds up no other"


def test_mailbox_and_mailboxes_together_or_a_name_twice_is_one_line(service: Service) -> None:
    (service.root / "nmss-intake.toml").write_text('[mailbox]\npath = "var/mailbox"\n' + TWO_MAILBOXES)
    both = service.invoke("run", "--once")
    (service.root / "nmss-intake.toml").write_text(TWO_MAILBOXES.replace('"mar"', '"referrals"'))
    twice = service.invoke("run", "--once")

    assert (both.exit_code, twice.exit_code) == (1, 1)
    assert both.stderr.count("\n") == twice.stderr.count("\n") == 1
    assert "both [mailbox] and [[mailboxes]] are set" in both.stderr
    assert "[[mailboxes]] names referrals more than once" in twice.stderr


def test_the_single_mailbox_setting_still_works(service: Service) -> None:
    (service.root / "nmss-intake.toml").write_text('[mailbox]\nname = "intake"\npath = "var/single"\n')
    deliver_to_maildir(service.root / "var" / "single", [incomplete(today(), seed=4)])

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    assert "Took 1 message(s) from mailbox intake:" in result.stdout
    assert folders(service.root / "var" / "single") == {"Incomplete": 1}
