"""The team's workspace: an NHS.UK web page to see, check and act on every referral (``nmss-intake web``).

An adapter at the edge, like the CLI: it reads and writes through ``intake`` and never reaches past it.
"""

from intake.web.app import create_app

__all__ = ["create_app"]
