"""One base for every failure the hub and its tools report: `ChfError`, with typed subclasses.

Library code raises these; only the command line (`chf.app.cli`) turns them into a message and an exit status.
"""

from __future__ import annotations


class ChfError(Exception):
    """A failure the user can act on; its text is one line that says what and where."""

    exit_status = 1


class ConfigurationError(ChfError):
    """A setting, option or file given to the hub or the bench is not usable as it is."""


class StoreError(ChfError):
    """The state database cannot be used as it is: damaged, full, locked or missing. One line naming the file."""
