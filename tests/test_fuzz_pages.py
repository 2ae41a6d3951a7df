"""Crafted query strings against the pages and exports: every filter of every list, with
values a browser would never send, gets a page or a refusal, never a server error.

Schemathesis covers the API (test_fuzz_api.py); this covers the HTML side and the CSV and
spreadsheet downloads, which record what was asked for in the access trail (a NUL character
there once failed the request, as did a non-address in the audit's address filter)."""

import datetime

import pytest
from django.db import transaction

from branches.tests.factories import make_tree
from members import services
from members.tests.factories import make_member
from portal.choices import Role
from portal.tests.factories import make_user

pytestmark = pytest.mark.django_db

NASTY = ["\x00", "abc", "-1", "99999999999999999999", "2026-13-45", "😀", "'\"<>", "x" * 2000]
# Parameters every list page reads besides its filters.
COMMON = ["page", "format", "org"]


def _filters(response) -> list[str]:
    filterset = response.context.get("filterset") if response.context else None
    return list(filterset.filters) if filterset is not None else []


def test_crafted_query_strings_never_get_a_server_error(client):
    tree = make_tree()
    member = make_member(home_org=tree["village"], name="模糊测试")
    services.member_register_outflow(
        member=member, left_on=datetime.date(2025, 1, 1), destination_code="610113"
    )
    # Each page, and the list whose filters it reads (a download reads its list's).
    pages = {
        make_user(Role.COUNTY_ADMIN, tree["root"]): {
            "/": None,
            "/members/": "/members/",
            "/orgs/": "/orgs/",
            f"/orgs/{tree['root'].pk}/": None,
            f"/members/{member.pk}/": None,
            "/rosters/": None,
            "/rosters/export/": None,
            "/rosters/export/members/": "/members/",
        },
        make_user(Role.AUDITOR): {
            "/audit/": "/audit/",
            "/audit/access/": "/audit/access/",
            "/audit/export/changes.csv": "/audit/",
            "/audit/export/access.csv": "/audit/access/",
        },
    }
    tried, failed = 0, []
    for user, urls in pages.items():
        client.force_login(user)
        for url, list_url in urls.items():
            filters = _filters(client.get(list_url)) if list_url else []
            for name in dict.fromkeys(COMMON + filters):
                for value in NASTY:
                    tried += 1
                    try:
                        # A savepoint each: a failed statement must not poison the next tries.
                        with transaction.atomic():
                            response = client.get(url, {name: value})
                            if response.streaming:
                                b"".join(response.streaming_content)
                            status = response.status_code
                    except Exception as exc:  # every failure is collected, not just the first
                        status = f"{type(exc).__name__}: {str(exc)[:120]}"
                    if not isinstance(status, int) or status >= 500:
                        failed.append((url, name, value[:10], status))
    assert tried > 300  # the pages' own filters were found and tried
    assert failed == []
