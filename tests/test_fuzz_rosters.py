"""Hypothesis against the roster reader and the validators: no crash, no partial write."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branches.tests.factories import make_tree
from members.models import Member, Mobility
from members.validators import normalize_id_number, normalize_phone
from portal import regions
from portal.choices import Role
from portal.tests.factories import make_user
from rosters.choices import ImportStatus
from rosters.readers import RosterFileError, open_table
from rosters.schema import MEMBER_SCHEMA
from rosters.services import roster_import
from rosters.tests.rosterdata import HEADERS, csv_text, member_row

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
cell_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "=1+1", "1.10105E+17", "2019.07", "2019年13月1日", "ｘ", "\u200b"]),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@FUZZ
@given(value=st.one_of(cell_text, st.integers(), st.floats()))
def test_validators_raise_only_validation_errors(value):
    for normalize in (normalize_id_number, normalize_phone):
        try:
            normalize(value)
        except ValidationError as exc:
            assert exc.messages and all(exc.messages)
    if isinstance(value, str):
        try:
            regions.parse_place(value)
        except ValidationError as exc:
            assert exc.messages


@FUZZ
@given(data=st.binary(max_size=4096), name=st.sampled_from(["a.xlsx", "a.xls", "a.csv", "a"]))
def test_reader_refuses_garbage_with_its_own_error(data, name):
    try:
        with open_table(io.BytesIO(data), filename=name, schema=MEMBER_SCHEMA) as table:
            for _ in table.rows:
                pass
    except RosterFileError as exc:
        assert str(exc)


@pytest.mark.django_db
@FUZZ
@given(
    broken=st.lists(
        st.tuples(st.integers(min_value=0, max_value=5), st.sampled_from(HEADERS), cell_text),
        min_size=1,
        max_size=6,
    )
)
def test_imports_write_all_or_nothing(broken):
    tree = make_tree_once()
    before = (Member.objects.count(), Mobility.objects.count())
    rows = [member_row(i, home=tree["village"].code) for i in range(6)]
    for index, column, value in broken:
        rows[index][column] = value
    record = roster_import(source=csv_text(rows).encode("utf-8"), filename="fuzz.csv")
    after = (Member.objects.count(), Mobility.objects.count())
    if record.status == ImportStatus.IMPORTED:
        assert record.rows_bad == 0
        assert after[0] - before[0] == record.rows_created
    else:
        assert record.status in (ImportStatus.REFUSED, ImportStatus.FAILED)
        assert after == before  # nothing half-written
    Member.objects.all().delete()


_TREE = {}


def make_tree_once():
    from branches.models import Organization

    if not _TREE or not Organization.objects.filter(pk=_TREE["village"].pk).exists():
        _TREE.clear()
        _TREE.update(make_tree())
    return _TREE


@pytest.mark.django_db
def test_trail_records_an_import_of_10000_rows_row_by_row():
    tree = make_tree()
    rows = [member_row(i, home=tree["village"].code) for i in range(10_000)]
    staff = make_user(Role.COUNTY_ADMIN, tree["root"], username="importer")
    record = roster_import(source=csv_text(rows).encode("utf-8"), filename="big.csv", user=staff)
    assert record.status == ImportStatus.IMPORTED, record.message
    assert record.rows_created == 10_000
    events = Member.pgh_event_model.objects.filter(pgh_label="insert")
    assert events.count() == 10_000
    assert Mobility.pgh_event_model.objects.filter(pgh_label="insert").count() == 10_000
    # Each event is the member's own row, and the clear ID number never reaches the trail.
    sample = events.order_by("pgh_id").first()
    member = Member.objects.get(pk=sample.pgh_obj_id)
    assert sample.name == member.name
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number FROM members_memberevent WHERE pgh_id = %s", [sample.pk])
        assert member.id_number not in cursor.fetchone()[0]
    assert sample.pgh_context["roster_import"] == record.pk
    # Every event of the import carries its context, who made it included (rows written by
    # COPY too).
    tagged = {
        "pgh_context__roster_import": record.pk,
        "pgh_context__user": staff.pk,
        "pgh_context__username": "importer",
    }
    assert events.filter(**tagged).count() == 10_000
    assert Mobility.pgh_event_model.objects.filter(pgh_label="insert", **tagged).count() == 10_000
