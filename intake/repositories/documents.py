"""The documents themselves: each form's original bytes, kept for the team to download and see page by page."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlmodel import Session

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
