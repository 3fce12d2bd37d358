"""Office files in the OLE compound format: which of them is a Word document saved with a password.

Word's "Encrypt with password" does not save a ZIP package: it saves an OLE compound file holding the encrypted
package (stream ``EncryptedPackage``) and how it was encrypted (``EncryptionInfo``), the format of MS-OFFCRYPTO.
olefile reads the compound file's directory, never the encrypted bytes. It is an untrusted decoder: only the
parse workers reach this module (through :func:`parsers.parse_document`).
"""

from __future__ import annotations

from typing import Final

import olefile

OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def is_encrypted_package(data: bytes) -> bool:
    """Whether ``data`` is an OLE compound file holding an ``EncryptedPackage`` stream (a password-protected
    .docx, .xlsx or .pptx); False for any other OLE file (an old .doc, an Outlook item) and for broken bytes."""
    try:
        with olefile.OleFileIO(data) as ole:
            return bool(ole.exists("EncryptedPackage"))
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - hostile bytes can make olefile raise anything; none may escape
        return False
