"""Schemathesis against the REST API: generated requests never get a server error."""

import datetime
from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from branches.tests.factories import make_tree
from members import services
from members.tests.factories import make_member
from portal.services import api_token_create

pytestmark = pytest.mark.slow


@pytest.fixture
def api_schema(db):
    # Like Django's test client: keep the test transaction's connection open across requests.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield _schema()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _schema():
    tree = make_tree()
    member = make_member(home_org=tree["village"], name="模糊测试")
    services.member_register_outflow(
        member=member, left_on=datetime.date(2025, 1, 1), destination_code="610113"
    )
    _, key = api_token_create(name="fuzz", organization=tree["root"], unmasked=True)
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application(), headers=headers
    )
    schema.config.headers = headers
    return schema


def test_api_never_answers_5xx(api_schema):
    headers = api_schema.config.headers
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 4  # list and detail of members and organizations
    seen = Counter()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(headers=headers)
            seen[response.status_code] += 1
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
            assert response.status_code in (200, 400, 404), (
                case.as_curl_command(),
                response.status_code,
            )

        check()
    # The fuzzer really reached the endpoints, with and without valid parameters.
    assert seen[200] > 0 and sum(seen.values()) >= 4 * 10, seen
