"""Cross-app fixtures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_manage():
    """Run ``manage.py`` in a fresh process with the given environment changes."""

    def run(*args, env_changes=None, unset=(), timeout=120):
        env = dict(os.environ)
        for key in unset:
            env.pop(key, None)
        env.update(env_changes or {})
        env.setdefault("PORTAL_ALLOW_DEV_SECRET", "1")
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
