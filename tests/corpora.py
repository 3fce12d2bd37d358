"""Where the shared corpora of real-world mail and PDFs are: ``NMSS_CORPUS_DIR``, else ``../shared/corpora``
beside the repository. They belong to other projects and are never copied into this one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPORA = Path(os.environ.get("NMSS_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpora"))


def require_corpora() -> Path:
    """The corpora folder; skips the calling test module, saying why, when it is absent."""
    if not (CORPORA / "index.tsv").is_file():
        pytest.skip(f"the shared corpora are not at {CORPORA} (set NMSS_CORPUS_DIR)", allow_module_level=True)
    return CORPORA
