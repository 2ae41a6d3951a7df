"""Fixtures of the roster tests: a small county and roster files in the three formats."""

import pytest

from branches.tests.factories import make_tree
from members.models import Member, Mobility

from .rosterdata import member_rows, write_csv, write_xls, write_xlsx


@pytest.fixture
def tree(db):
    return make_tree()


@pytest.fixture
def homes(tree):
    """Codes of the two branches that may hold memberships."""
    return [tree["village"].code, tree["other"].code]


@pytest.fixture
def rows(homes):
    return member_rows(6, homes=homes)


WRITERS = {
    "xlsx": lambda path, rows, **kw: write_xlsx(path, rows, **kw),
    "xls": lambda path, rows, **kw: write_xls(path, rows, **kw),
    "csv": lambda path, rows, **kw: write_csv(path, rows, **kw),
}


@pytest.fixture
def roster_file(tmp_path):
    """Write rows as a roster file of the given format; returns its path."""
    counter = iter(range(1000))

    def write(rows, fmt="xlsx", **kw):
        path = tmp_path / f"roster{next(counter)}.{fmt}"
        return WRITERS[fmt](path, rows, **kw)

    return write


@pytest.fixture
def counts():
    """(members, mobilities) in the database."""
    return lambda: (Member.objects.count(), Mobility.objects.count())
