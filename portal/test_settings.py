"""Test override: the same settings, tuned for speed only (never for behaviour)."""

import os

os.environ.setdefault("PORTAL_ALLOW_DEV_SECRET", "1")

from portal.settings import *  # noqa: F403

# Hashing passwords slowly protects real accounts; in tests it only costs time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A test database per test process: several runs (developers, helpers, CI) can share one server.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405

# The test client speaks plain HTTP, like an intranet deployment with the three switches off;
# tests/test_deploy.py checks the production defaults with `check --deploy`.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# A cache key prefix per test process, for the same reason (conftest.py empties it after each
# test).
CACHES["default"]["KEY_PREFIX"] = f"test{os.getpid()}"  # noqa: F405
