"""The database shapes the roster import's speed depends on (bench/import_bench.py measures it)."""

import pytest
from django.apps import apps
from django.db import connection

from branches.tests.factories import make_tree
from members.models import Member, Mobility

pytestmark = pytest.mark.django_db


def _collation(model, column: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_name = %s AND column_name = %s",
            [model._meta.db_table, column],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("column", ["id_number_hash", "id_tail"])
def test_equality_only_columns_compare_bytes_whatever_the_database_locale(column):
    assert _collation(Member, column) == "C"
    assert _collation(apps.get_model("members", "MemberEvent"), column) == "C"


def test_partial_inflow_index_serves_the_current_inflow_query():
    village = make_tree()["village"]
    query = Mobility.objects.current().filter(inflow_org=village).values("member").distinct()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "mobility_inflow_org_idx" in plan, plan
