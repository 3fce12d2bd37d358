"""A recorded Exchange server for exchangelib: a requests adapter that answers each SOAP operation from
tests/recordings/ews and fails on anything it has no recording for, so nothing leaves the machine.

Tests mount a subclass as ``BaseProtocol.HTTP_ADAPTER_CLS``; the subclass answers the operations it knows in
``answer`` (returning the response body), and a test makes an operation fail with ``overrides``.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template
from typing import Any, ClassVar

import requests
from requests.adapters import BaseAdapter

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "ews"
ENDPOINT = "https://mail.example.nhs.uk/EWS/Exchange.asmx"


def fill(name: str, **values: str) -> str:
    """The recording ``name`` with its ``$PLACEHOLDERS`` filled in."""
    return Template((RECORDINGS / name).read_text()).safe_substitute(values)


class RecordedExchange(BaseAdapter):
    """An Exchange 2016 server as recorded; the state is the class's, reset by each test's fixture."""

    overrides: ClassVar[dict[str, tuple[int, str]]] = {}  # operation -> (HTTP status, recording file or body)
    calls: ClassVar[list[tuple[str, str]]] = []  # (operation, request body)

    def __init__(self, **_kwargs: Any) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        found = re.search(r"<s:Body><m:(\w+)", body)
        if request.url != ENDPOINT or found is None:
            raise AssertionError(f"no recording for {request.method} {request.url}")
        operation = found.group(1)
        self.calls.append((operation, body))
        response = requests.Response()
        if operation in self.overrides:
            response.status_code, recording = self.overrides[operation]
            path = RECORDINGS / recording
            response._content = path.read_bytes() if recording and path.is_file() else recording.encode()
            xml = not recording.endswith(".html")
        else:
            response.status_code, response._content, xml = 200, self.answer(operation, body).encode(), True
        response.headers["Content-Type"] = "text/xml; charset=utf-8" if xml else "text/html; charset=us-ascii"
        response.url = request.url
        response.request = request
        response.encoding = "utf-8" if xml else "us-ascii"
        return response

    def answer(self, operation: str, body: str) -> str:
        """The response body for ``operation``: GetFolder here, the rest in subclasses."""
        if operation == "GetFolder":
            distinguished = re.search(r'DistinguishedFolderId Id="(\w+)"', body)
            name = distinguished.group(1) if distinguished else "folder"
            return fill("get-folder.xml", FOLDER_ID=f"folder-{name}", DISPLAY_NAME=name.capitalize())
        raise AssertionError(f"no recording for EWS operation {operation}")

    def close(self) -> None:
        pass

    @classmethod
    def operations(cls) -> list[str]:
        return [operation for operation, _ in cls.calls]
