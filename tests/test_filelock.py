"""The run lock beside a state file: one holder at a time, no stale file left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qualtrics_async._filelock import _same_file, exclusive
from qualtrics_async.errors import ConfigurationError


def test_a_second_holder_is_refused_with_the_message_given(tmp_path: Path) -> None:
    state = tmp_path / "survey.sync.json"
    with exclusive(state, "busy: another run"):
        assert (tmp_path / "survey.sync.json.lock").exists()
        with pytest.raises(ConfigurationError, match="busy: another run"), exclusive(state, "busy: another run"):
            pass
    with exclusive(state, "busy"):  # free again once released
        pass


def test_the_lock_file_is_removed_when_the_run_ends_even_by_an_error(tmp_path: Path) -> None:
    state = tmp_path / "contacts.ckpt"
    with pytest.raises(RuntimeError), exclusive(state, "busy"):
        raise RuntimeError("the run failed")
    assert list(tmp_path.iterdir()) == []


def test_a_lock_on_a_file_no_longer_at_the_path_is_recognised(tmp_path: Path) -> None:
    # B opened the lock file while A held it; A removed it and let go; C created a new one.
    # B's flock would succeed on A's removed file, so B must see that it is not the file at the
    # path (and then retry by the path, where C's lock refuses it).
    lock_path = tmp_path / "state.json.lock"
    stale = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert _same_file(stale, lock_path)
        lock_path.unlink()
        assert not _same_file(stale, lock_path)
        lock_path.touch()
        assert not _same_file(stale, lock_path)
    finally:
        os.close(stale)
