"""The documents themselves: each form's original bytes, kept for the team to download and see page by page."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from intake.store import FormFile, FormRecord


class Documents:
    """The original files of the forms recorded (table ``form_file``); a purged one keeps its size and digest."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def keep(self, originals: Iterable[tuple[FormRecord, bytes]]) -> None:
        """Keep each form's original bytes, beside the form (which is given its id here)."""
        pairs = list(originals)
        if not pairs:
            return
        self.session.flush()  # the forms' ids, which their files are keyed by
        for form, content in pairs:
            assert form.id is not None
            self.session.add(
                FormFile(
                    form_id=form.id, content=content, size=len(content), sha256=hashlib.sha256(content).hexdigest()
                )
            )

    def file_of(self, form_id: int) -> FormFile | None:
        """The original of form ``form_id``, if one was kept."""
        return self.session.get(FormFile, form_id)

    def facts(self, form_ids: Sequence[int]) -> list[tuple[FormRecord, FileFacts | None]]:
        """Forms ``form_ids`` with what is known of their originals (not the bytes), in one query."""
        if not form_ids:
            return []
        forms = self.session.exec(select(FormRecord).where(col(FormRecord.id).in_(list(form_ids)))).all()
        # The bytes stay in the database: only whether they are still there is read.
        files = self.session.execute(
            sa_select(
                col(FormFile.form_id),
                col(FormFile.size),
                col(FormFile.sha256),
                col(FormFile.purged_at),
                col(FormFile.content).is_(None),
            ).where(col(FormFile.form_id).in_(list(form_ids)))
        ).all()
        facts = {row[0]: FileFacts(row[1], row[2], row[3], bool(row[4])) for row in files}
        return [(form, facts.get(form.id or 0)) for form in forms]

    def of_submission(self, message_ids: Sequence[int]) -> list[FormRecord]:
        """The forms of these messages, as the referral page lists them: by message, then by position."""
        return list(
            self.session.exec(
                select(FormRecord)
                .where(col(FormRecord.message_id).in_(list(message_ids)))
                .order_by(col(FormRecord.message_id), col(FormRecord.position))
            ).all()
        )


@dataclass(frozen=True)
class FileFacts:
    """What is known of a kept original without reading it: its size, digest, and whether it was purged."""

    size: int
    sha256: str
    purged_at: dt.datetime | None
    purged: bool
