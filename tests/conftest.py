import pytest

from rtds_data import corpus_dir, keystore_dir, require_rtds


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
