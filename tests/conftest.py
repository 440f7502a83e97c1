import compileall
import os

import pytest
from rtds_data import REPO, corpus_dir, keystore_dir, require_rtds


def pytest_sessionstart(session):
    """Byte-compile the project's packages once, before anything imports them. Many tests start `python -m
    chf.app.cli` processes (hubs, benches, restarts after SIGKILL); where PYTHONDONTWRITEBYTECODE is set (as on the
    project's machines), no import writes bytecode, and each such process would compile chf/gbcs/zigbee afresh.
    The bytecode goes where Python keeps it (`__pycache__/`, ignored by git); a changed source is recompiled."""
    for package in ("gbcs", "chf", "zigbee", "hw"):
        compileall.compile_dir(REPO / package, quiet=2)  # silent: an import reports any error itself


@pytest.fixture(scope="session")
def rtds_dir():
    return require_rtds()


@pytest.fixture(scope="session")
def rtds_keys():
    require_rtds()
    return keystore_dir()


@pytest.fixture(scope="session")
def rtds_corpus():
    return corpus_dir()


@pytest.fixture(scope="session", autouse=True)
def per_user_state_markers(tmp_path_factory):
    """Hubs keep a per-user "this state was used" marker in $XDG_STATE_HOME/commshub (chf.runtime.hub_runtime
    `markers`): the tests, and the hubs they start as processes, keep theirs in a temporary directory instead of
    the user's home."""
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old
