"""Helpers for the command-line tests: run `chf` in-process and judge a refusal (one line, non-zero, no traceback)."""

from __future__ import annotations

import pytest

from chf.app.cli import main
from chf.runtime.hub_runtime import release_locks


@pytest.fixture(autouse=True)
def no_locks_left():
    """Imported by a test module, this releases the state locks a `chf run` test left behind."""
    yield
    release_locks()


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err):
    return rc != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
