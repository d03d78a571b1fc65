"""Fixtures for the Streamlit AppTest tests: a small real dataset (digits, 300 training images at
64 px) prepared through the real library into the session's temporary cache directory."""
from __future__ import annotations

import pytest
from studio_helpers import ENTRY, assert_clean

#: The sidebar defaults of every AppTest (read by app.py from the environment).
STUDIO_ENV = {
    "CORESET_STUDIO_DATASET": "digits",
    "CORESET_STUDIO_LIMIT": "300",
    "CORESET_STUDIO_TEST_LIMIT": "200",
    "CORESET_STUDIO_RESOLUTION": "64",
    "CORESET_STUDIO_SCORE_EPOCHS": "2",
    "CORESET_STUDIO_AUTO_UMAP": "0",
}


@pytest.fixture(scope="session")
def studio_spec():
    """The data setting the app starts with under STUDIO_ENV."""
    from coreset_studio.settings import defaults_from_env

    settings, notes = defaults_from_env(STUDIO_ENV)
    assert not notes
    return settings.spec


@pytest.fixture(scope="session")
def prepared_small(studio_spec):
    """A Session of the same data setting (same disk cache) as the app's: the tests' ground truth."""
    from coreset_core.session import Session

    return Session(studio_spec).prepare()


@pytest.fixture
def app(monkeypatch, prepared_small, session_cache_dir):
    """A fresh AppTest of the studio that has run its first (data) page."""
    from streamlit.testing.v1 import AppTest

    for k, v in STUDIO_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CORESET_CACHE_DIR", str(session_cache_dir))
    at = AppTest.from_file(str(ENTRY), default_timeout=300)
    at.run()
    assert_clean(at)
    return at
