"""The REST API base: scoping, tokens, masking, pagination and the offline docs."""

import datetime
import time

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from branches.tests.factories import make_tree
from members import services
from members.tests.factories import make_member
from portal.choices import AccessEventKind, Role
from portal.models import AccessEvent, ApiToken
from portal.services import api_token_create, api_token_revoke
from portal.tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    tree = make_tree()
    outside = make_tree()
    members = [make_member(home_org=tree["village"], name=f"东村{i}") for i in range(3)]
    members.append(make_member(home_org=tree["other"], name="西村甲"))
    far = make_member(home_org=outside["village"], name="外县乙")
    services.member_register_outflow(
        member=members[0],
        left_on=datetime.date(2025, 3, 1),
        destination_code="610113",
        inflow_org=tree["functional"],
        employer="西安某公司",
    )
    return {"tree": tree, "outside": outside, "members": members, "far": far}


def token_client(org, **kw):
    token, key = api_token_create(name=f"t-{org.code}-{kw.get('days', 0)}", organization=org, **kw)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, token


def all_names(client, url="/api/v1/members/", **params):
    names, next_url = [], url
    while next_url:
        response = client.get(next_url, params if next_url == url else None)
        assert response.status_code == 200, response.content
        names += [row["name"] for row in response.json()["results"]]
        next_url = response.json()["next"]
    return sorted(names)


def test_scoped_token_pulls_exactly_its_subtree(world):
    client, _ = token_client(world["tree"]["township"])
    assert all_names(client, page_size=2) == ["东村0", "东村1", "东村2", "西村甲"]
    client, _ = token_client(world["tree"]["village"])
    assert all_names(client) == ["东村0", "东村1", "东村2"]


def test_out_of_scope_detail_is_404_like_a_missing_one(world):
    client, _ = token_client(world["tree"]["village"])
    far = client.get(f"/api/v1/members/{world['far'].pk}/")
    missing = client.get("/api/v1/members/999999999/")
    assert far.status_code == missing.status_code == 404
    assert far.json() == missing.json()
    inside = client.get(f"/api/v1/members/{world['members'][0].pk}/")
    assert inside.status_code == 200
    assert inside.json()["current_mobility"]["destination_name"] == "陕西省西安市雁塔区"
    # Probing for ids is recorded like any other call, with the answer it got.
    uses = AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE).order_by("pk")
    assert [(e.detail["status"], e.detail.get("rows")) for e in uses] == [
        (404, None),
        (404, None),
        (200, 1),
    ]
    assert uses[0].path == f"/api/v1/members/{world['far'].pk}/"


def test_the_api_root_is_recorded_like_any_call_a_token_makes(world):
    client, _ = token_client(world["tree"]["village"])
    response = client.get("/api/v1/")
    assert response.status_code == 200 and "members" in response.json()
    event = AccessEvent.objects.get(kind=AccessEventKind.TOKEN_USE)
    assert event.path == "/api/v1/" and event.detail["status"] == 200
    assert "rows" not in event.detail  # links, not rows


def test_the_schema_fetched_with_a_token_is_recorded_like_any_call_a_token_makes(world):
    client, token = token_client(world["tree"]["village"])
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    event = AccessEvent.objects.get(kind=AccessEventKind.TOKEN_USE)
    assert event.path.startswith("/api/schema/") and event.detail["token"] == token.name
    assert event.detail["status"] == 200 and "rows" not in event.detail  # a map, not rows


def test_filters_are_the_html_filterset(world):
    client, _ = token_client(world["tree"]["root"])
    assert all_names(client, mobile="true") == ["东村0"]
    assert all_names(client, province="610000") == ["东村0"]
    assert all_names(client, inflow_org=world["tree"]["functional"].pk) == ["东村0"]
    assert all_names(client, inflow_org=world["tree"]["other"].pk) == []
    assert all_names(client, q="西村") == ["西村甲"]
    tail = world["members"][1].id_number[-4:]
    assert "东村1" in all_names(client, q=tail)
    # A phone is found by its last four digits (shown anyway), never by a part of the masked
    # middle: that would reveal it a digit at a time. Nor by the whole number, for a token
    # that sees phones masked: 10,000 guesses of the middle would confirm it.
    phone = world["members"][2].phone
    assert all_names(client, q=phone) == []
    assert "东村2" in all_names(client, q=phone[-4:])
    for part in (phone[:7], phone[:10], phone[2:9], phone[3:]):
        assert "东村2" not in all_names(client, q=part), part
    unmasked, _ = token_client(world["tree"]["root"], unmasked=True, days=1)
    assert all_names(unmasked, q=phone) == ["东村2"]
    assert all_names(unmasked, q=phone[:10]) == []
    # What was searched for is recorded the way the pages show a phone.
    paths = AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE).values_list(
        "path", flat=True
    )
    assert any(f"q={phone[:3]}****{phone[-4:]}" in path for path in paths)
    assert not any(phone in path for path in paths)


def test_id_number_and_phone_masked_unless_token_is_unmasked(world):
    client, _ = token_client(world["tree"]["village"])
    row = client.get(f"/api/v1/members/{world['members'][1].pk}/").json()
    member = world["members"][1]
    assert row["id_number"] == member.id_number[:4] + "*" * 10 + member.id_number[-4:]
    assert member.id_number not in str(row)
    assert row["phone"] == member.phone[:3] + "****" + member.phone[-4:]
    # A phone in the current mobility's contact person too.
    away = world["members"][0]
    away.mobilities.current().update(
        contact_person="孙荣海 17326678980",
        employer="西安某公司（电话 029-88881234）",
        inflow_org=None,
        inflow_org_name="某商会党支部 13812345678",
        destination_address=f"雁塔区某路 1 号，房东身份证 {member.id_number}",
    )
    mobility = client.get(f"/api/v1/members/{away.pk}/").json()["current_mobility"]
    assert mobility["contact_person"] == "孙荣海 173****8980"
    assert mobility["employer"] == "西安某公司（电话 029-****1234）"
    assert mobility["inflow_org_display"] == "某商会党支部 138****5678"
    assert mobility["destination_address"] == (
        f"雁塔区某路 1 号，房东身份证 {member.id_number[:4]}{'*' * 10}{member.id_number[-4:]}"
    )
    # The birth date too: with the masked number's ends, it would give back all but 2 digits.
    assert row["birth_date"] == f"{member.birth_date.year}-**-**"
    assert member.id_number[6:14] not in str(row)
    client, _ = token_client(world["tree"]["other"], unmasked=True)
    row = client.get("/api/v1/members/").json()["results"][0]
    assert row["id_number"] == world["members"][3].id_number
    assert row["birth_date"] == world["members"][3].birth_date.isoformat()
    event = AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE).latest("at")
    assert event.detail["unmasked"] is True and event.detail["rows"] == 1


def test_unknown_expired_and_revoked_tokens_get_401(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get("/api/v1/members/").status_code == 401
    client, token = token_client(world["tree"]["village"])
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert client.get("/api/v1/members/").status_code == 401
    client, token = token_client(world["tree"]["other"])
    assert client.get("/api/v1/members/").status_code == 200
    api_token_revoke(name=token.name)
    assert client.get("/api/v1/members/").status_code == 401
    assert APIClient().get("/api/v1/members/").status_code in (401, 403)


def test_refused_tokens_are_recorded_without_the_key(world):
    def refused(authorization, **extra):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=authorization)
        response = client.get("/api/v1/members/", {"page_size": 1}, **extra)
        assert response.status_code == 401, response.content
        return response

    unknown = "not-a-real-key-" + "x" * 30
    refused(f"Token {unknown}", REMOTE_ADDR="192.0.2.10")
    refused("Token two parts")
    expired, expired_key = api_token_create(name="expired", organization=world["tree"]["village"])
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    assert "令牌已过期" in refused(f"Token {expired_key}").json()["detail"]
    revoked, revoked_key = api_token_create(name="revoked", organization=world["tree"]["other"])
    api_token_revoke(name="revoked")
    refused(f"Token {revoked_key}")

    events = list(AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_REFUSED).order_by("pk"))
    assert [(e.username, e.user, e.detail) for e in events] == [
        ("", None, {"reason": "unknown"}),
        ("", None, {"reason": "malformed"}),
        (expired.user.username, None, {"reason": "expired", "token": "expired"}),
        (revoked.user.username, None, {"reason": "revoked", "token": "revoked"}),
    ]
    assert events[0].ip_address == "192.0.2.10"
    assert events[0].path == "/api/v1/members/?page_size=1"
    assert events[0].get_kind_display() == "令牌被拒"
    # No key, not even its 8-character prefix, is kept anywhere in the events.
    for event in AccessEvent.objects.all():
        stored = str([event.username, event.path, event.object_id, event.detail])
        for key in (unknown, expired_key, revoked_key):
            assert key[:8] not in stored, (key, stored)
    # Refusals are not token uses.
    assert not AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE).exists()


def test_refused_tokens_lock_their_address_for_a_while(world, settings):
    settings.PORTAL_TOKEN_REFUSAL_LIMIT = 3
    settings.AXES_COOLOFF_TIME = datetime.timedelta(seconds=2)
    here = {"REMOTE_ADDR": "192.0.2.20"}
    guesser = APIClient()
    guesser.credentials(HTTP_AUTHORIZATION="Token not-a-real-key-" + "y" * 30)
    for _ in range(3):
        assert guesser.get("/api/v1/members/", **here).status_code == 401
    events = AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_REFUSED).order_by("pk")
    assert [e.detail for e in events] == [
        {"reason": "unknown"},
        {"reason": "unknown"},
        {"reason": "unknown", "locked": True},
    ]

    # Locked: no key is looked at, not even a good one, and nothing more is recorded.
    client, _ = token_client(world["tree"]["village"])
    for caller in (guesser, client):
        with CaptureQueriesContext(connection) as queries:
            response = caller.get("/api/v1/members/", **here)
        assert response.status_code == 429
        assert "已暂停令牌访问" in response.json()["detail"]
        assert 1 <= int(response["Retry-After"]) <= 2
        assert len(queries) == 0
    assert events.count() == 3
    assert not AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE).exists()
    # Other addresses, and people signed in from the same one, are not locked.
    assert client.get("/api/v1/members/", REMOTE_ADDR="192.0.2.21").status_code == 200
    staff = APIClient()
    staff.force_authenticate(make_user(Role.COUNTY_ADMIN, world["tree"]["root"]))
    assert staff.get("/api/v1/members/", **here).status_code == 200

    time.sleep(2.1)  # the lock ends with PORTAL_LOCKOUT_MINUTES (here 2 seconds)
    assert client.get("/api/v1/members/", **here).status_code == 200
    assert guesser.get("/api/v1/members/", **here).status_code == 401


def test_api_calls_are_rate_limited_per_account(world, settings):
    settings.PORTAL_API_RATE = "3/min"
    client, _ = token_client(world["tree"]["village"])
    assert [client.get("/api/v1/members/").status_code for _ in range(4)] == [200] * 3 + [429]
    response = client.get("/api/v1/organizations/")
    assert response.status_code == 429
    assert response.json()["detail"].startswith("请求已被限流")
    assert 0 < int(response["Retry-After"]) <= 60
    uses = AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE)
    assert uses.count() == 3  # refused calls returned nothing
    other, _ = token_client(world["tree"]["other"])
    assert other.get("/api/v1/members/").status_code == 200


def test_token_calls_open_no_session(world):
    client, _ = token_client(world["tree"]["village"])
    response = client.get("/api/v1/members/")
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert not Session.objects.exists()


def test_token_is_read_only(world):
    client, _ = token_client(world["tree"]["village"])
    member = world["members"][0]
    assert client.post("/api/v1/members/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/members/{member.pk}/").status_code == 403
    assert client.patch(f"/api/v1/members/{member.pk}/", {"name": "改"}).status_code == 403


def test_session_users_are_scoped_too(world):
    client = APIClient()
    client.force_authenticate(make_user(Role.BRANCH_SECRETARY, world["tree"]["other"]))
    assert all_names(client) == ["西村甲"]
    auditor = APIClient()
    auditor.force_authenticate(make_user(Role.AUDITOR))
    assert all_names(auditor) == []
    assert auditor.get("/api/v1/organizations/").json()["results"] == []


def test_pages_of_lists_pulled_with_a_session_are_recorded_as_exports(world):
    client = APIClient()
    user = make_user(Role.COUNTY_ADMIN, world["tree"]["root"], username="county9")
    client.force_login(user)  # a signed-in user's browser session, no token
    assert len(all_names(client, page_size=3)) == 4
    member = world["members"][0]
    assert client.get(f"/api/v1/members/{member.pk}/").status_code == 200
    exports = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).order_by("pk")
    assert [(e.username, e.detail["source"], e.detail["rows"]) for e in exports] == [
        ("county9", "api", 3),
        ("county9", "api", 1),
    ]
    assert exports[0].detail["scope"] == "/api/v1/members/"
    assert exports[0].path.startswith("/api/v1/members/?page_size=3")
    assert not AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE).exists()


def test_organizations_endpoint_is_scoped(world):
    client, _ = token_client(world["tree"]["township"])
    codes = [row["code"] for row in client.get("/api/v1/organizations/").json()["results"]]
    assert sorted(codes) == sorted(
        [world["tree"]["township"].code, world["tree"]["village"].code, world["tree"]["other"].code]
    )


def test_page_size_is_capped_at_500(world):
    client, _ = token_client(world["tree"]["root"])
    response = client.get("/api/v1/members/", {"page_size": 100000})
    assert response.status_code == 200
    from portal.api.pagination import PortalCursorPagination

    assert PortalCursorPagination.max_page_size == 500


def test_member_list_query_count_is_constant(world, django_assert_max_num_queries):
    client, _ = token_client(world["tree"]["root"])
    with django_assert_max_num_queries(9) as few:
        client.get("/api/v1/members/")
    for i in range(40):
        member = make_member(home_org=world["tree"]["village"], name=f"批量{i}")
        if i % 2:
            services.member_register_outflow(
                member=member, left_on=datetime.date(2025, 1, 1), destination_code="110105"
            )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/v1/members/", {"page_size": 500})
    assert len(response.json()["results"]) == 44


def test_openapi_schema_and_docs_are_served_offline(world, admin_client):
    schema = admin_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/members/" in schema.content
    docs = admin_client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    # Every script and stylesheet comes from this server, never from a CDN.
    import re

    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http://", "https://", "//")), url
    # No inline script: the page runs under the CSP's script-src 'self'.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), html
    assert "unsafe-inline" not in docs["Content-Security-Policy"]
    script = re.search(r'<script src="(/api/docs/\?script=[^"]*)"', html)
    assert script and admin_client.get(script.group(1)).status_code == 200
    # Swagger UI's own default would ask validator.swagger.io for a badge: turned off.
    assert '"validatorUrl": null' in admin_client.get(script.group(1)).content.decode()


def test_the_api_documentation_reads_in_chinese(admin_client):
    """What /api/docs/ shows integrators (operations, schemas, parameters, fields) is Chinese:
    no docstring written for developers, and no English sentence, leaks into it."""
    import re

    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    english = re.compile(r"\b[A-Za-z][a-z]*(?:'[a-z]+)?(?: [a-z]+(?:'[a-z]+)?){2,}\b")
    texts = []

    def collect(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "summary", "title") and isinstance(value, str):
                    texts.append(value)
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(schema)
    assert len(texts) > 20  # operations, components, parameters and fields were reached
    assert [t for t in texts if english.search(t)] == []
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert all(op.get("description") for op in operations)


@pytest.mark.parametrize("endpoint", ["members", "organizations"])
@pytest.mark.parametrize("position", ["abc", "1.5", "1e3", ""])
def test_a_forged_cursor_is_refused_like_any_bad_cursor(world, endpoint, position):
    """A cursor is base64 of ``p=<pk>``: one whose position is no id is 404 无效游标, the
    answer to any broken cursor, never a server error."""
    import base64

    client, _ = token_client(world["tree"]["root"])
    for raw in (f"p={position}", f"r=1&p={position}", f"o=1&p={position}"):
        cursor = base64.b64encode(raw.encode()).decode()
        response = client.get(f"/api/v1/{endpoint}/", {"cursor": cursor})
        assert response.status_code == 404, (raw, response.content[:200])
        assert response.json() == {"detail": "无效游标"}


@pytest.mark.parametrize("endpoint", ["members", "organizations"])
def test_a_missing_or_out_of_scope_id_is_answered_in_chinese(world, endpoint):
    client, _ = token_client(world["tree"]["village"])
    far = world["far"].pk if endpoint == "members" else world["outside"]["village"].pk
    for pk in (999999999, far, "abc"):
        response = client.get(f"/api/v1/{endpoint}/{pk}/")
        assert response.status_code == 404
        assert response.json() == {"detail": "未找到。"}, pk


def test_api_answers_with_personal_data_are_kept_by_no_cache(world):
    client, _ = token_client(world["tree"]["village"])
    member = world["members"][0]
    for url in ("/api/v1/members/", f"/api/v1/members/{member.pk}/", "/api/v1/organizations/"):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"], url
        assert "private" in response["Cache-Control"], url
    staff = APIClient()
    staff.force_login(make_user(Role.COUNTY_ADMIN, world["tree"]["root"]))
    response = staff.get("/api/v1/members/", HTTP_ACCEPT="text/html")  # the browsable API
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    # Refusals too: nothing the API answers is worth a cache's copy.
    assert "no-store" in APIClient().get("/api/v1/members/")["Cache-Control"]


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [("members", "mobile"), ("members", "lost_contact"), ("organizations", "outside")],
)
@pytest.mark.parametrize("value", ["maybe", "2", "-1", "是"])
def test_a_yes_no_filter_with_another_value_is_refused(world, endpoint, name, value):
    """A typo in a yes/no filter would otherwise pull every row, as if there were no filter."""
    client, _ = token_client(world["tree"]["root"])
    response = client.get(f"/api/v1/{endpoint}/", {name: value})
    assert response.status_code == 400, response.content[:200]
    [message] = response.json()[name]
    assert "true" in message and "false" in message
    for good in ("true", "false", "True", "1", "0", "", "unknown"):  # unknown: not chosen
        assert client.get(f"/api/v1/{endpoint}/", {name: good}).status_code == 200, good


def test_a_browser_session_writing_without_csrf_token_is_refused_in_chinese(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user(Role.COUNTY_ADMIN, world["tree"]["root"]))
    response = client.delete(f"/api/v1/members/{world['members'][0].pk}/")
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail.startswith("CSRF 验证失败"), detail
    assert "CSRF Failed" not in detail
    # Still documented as the browser's way in, beside the token.
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert set(schema["components"]["securitySchemes"]) == {"TokenAuth", "cookieAuth"}


def test_the_schema_and_docs_are_for_tokens_and_signed_in_users_only(world, client):
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 401 and "paths" not in schema.content.decode()
    assert schema.json()["detail"] == "身份认证信息未提供。"
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith(settings.LOGIN_URL)
    with_token, _ = token_client(world["tree"]["village"])
    assert "/api/v1/members/" in with_token.get("/api/schema/", {"format": "json"}).json()["paths"]


def test_the_schema_describes_what_the_api_answers(world, admin_client):
    """An integrator's client generated from /api/schema/ accepts every real answer: a blank
    choice (an organization that is no branch has no 支部类型) is in its enum."""
    import jsonschema

    def as_json_schema(node):  # OpenAPI 3.0's "nullable" is JSON Schema's type null
        if isinstance(node, list):
            return [as_json_schema(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: as_json_schema(value) for key, value in node.items()}
        if node.pop("nullable", False):
            node = {"anyOf": [node, {"type": "null"}]}
        return node

    schema = as_json_schema(admin_client.get("/api/schema/", {"format": "json"}).json())
    services.member_register_outflow(  # an inflow organization that is not ours: no code
        member=world["members"][1],
        left_on=datetime.date(2025, 5, 1),
        destination_code="440305",
        inflow_org_name="深圳某商会党支部",
    )
    client, _ = token_client(world["tree"]["root"])
    for path, component in (
        ("/api/v1/organizations/", "PaginatedOrganizationList"),
        ("/api/v1/members/", "PaginatedMemberList"),
    ):
        rows = client.get(path, {"page_size": 500}).json()
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"#/components/schemas/{component}", **schema}
        )
        errors = [(error.json_path, error.message) for error in validator.iter_errors(rows)]
        assert errors == [], (path, errors[:5])
    branch = {o["kind"]: o for o in client.get("/api/v1/organizations/").json()["results"]}
    assert branch["committee"]["branch_type"] == ""  # the case above really was reached


def test_every_filter_of_the_schema_says_what_it_is(admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    undescribed = [
        (op["operationId"], p["name"])
        for op in operations
        for p in op.get("parameters", [])
        if not p.get("description")
    ]
    assert undescribed == []
    members = schema["paths"]["/api/v1/members/"]["get"]["parameters"]
    org = next(p for p in members if p["name"] == "org")
    assert org["schema"]["type"] == "integer" and org["description"].startswith("党组织")
    # What the search matches, and that a masked token's whole phone matches nothing.
    q = next(p for p in members if p["name"] == "q")
    assert "后四位" in q["description"] and "完整手机号仅对" in q["description"]
    page_size = next(p for p in members if p["name"] == "page_size")
    assert page_size["schema"]["maximum"] == 500
    # The current mobility is described field by field, not as any object.
    mobility = schema["components"]["schemas"]["Member"]["properties"]["current_mobility"]
    assert "#/components/schemas/Mobility" in str(mobility)


def test_organization_list_query_count_is_constant(world, django_assert_max_num_queries):
    from branches.tests.factories import make_branch

    client, _ = token_client(world["tree"]["root"])
    with django_assert_max_num_queries(9) as few:
        client.get("/api/v1/organizations/")
    for i in range(30):
        make_branch(parent=world["tree"]["township"], name=f"批量{i}党支部")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/v1/organizations/", {"page_size": 500})
    assert len(response.json()["results"]) == 35


def test_member_list_query_count_is_constant_for_a_secretary_session(
    world, django_assert_max_num_queries
):
    """A branch that also sees its inflow members: the same few queries however many rows."""
    client = APIClient()
    client.force_login(make_user(Role.BRANCH_SECRETARY, world["tree"]["functional"]))
    with django_assert_max_num_queries(30) as few:
        assert client.get("/api/v1/members/").status_code == 200
    for i in range(30):
        member = make_member(home_org=world["tree"]["village"], name=f"流入{i}")
        services.member_register_outflow(
            member=member,
            left_on=datetime.date(2025, 1, 1),
            destination_code="610113",
            inflow_org=world["tree"]["functional"],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/v1/members/", {"page_size": 500})
    assert len(response.json()["results"]) == 31


def test_an_options_call_is_recorded_without_rows(world):
    """OPTIONS answers the endpoint's description, no member: the trail must not say it read
    one."""
    client, _ = token_client(world["tree"]["village"])
    assert client.options("/api/v1/members/").status_code == 200
    assert client.options(f"/api/v1/members/{world['members'][0].pk}/").status_code == 200
    uses = AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE)
    assert [(e.detail["status"], e.detail.get("rows")) for e in uses] == [(200, None)] * 2


def test_the_names_of_the_endpoints_are_chinese(world):
    """OPTIONS and the browsable API name each endpoint: 党员列表, not "Member List"."""
    client, _ = token_client(world["tree"]["root"])
    names = {
        url: client.options(url).json()["name"]
        for url in (
            "/api/v1/",
            "/api/v1/members/",
            f"/api/v1/members/{world['members'][0].pk}/",
            "/api/v1/organizations/",
            f"/api/v1/organizations/{world['tree']['root'].pk}/",
        )
    }
    assert list(names.values()) == [
        "接口根目录",
        "党员列表",
        "党员详情",
        "党组织列表",
        "党组织详情",
    ]
    page = client.get("/api/v1/members/", HTTP_ACCEPT="text/html").content.decode()
    assert "<h1>党员列表</h1>" in page and "Member List" not in page and "Api Root" not in page


def test_the_schema_documents_the_error_answers(world, admin_client):
    """A client generated from the schema knows the refusals it will meet, and their shape."""
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    for path, methods in schema["paths"].items():
        responses = methods["get"]["responses"]
        expected = {"200", "401", "404", "429"} | ({"400"} if path.endswith("s/") else set())
        assert set(responses) == expected, path
        assert all(responses[code]["description"] for code in expected - {"200"})
    client, _ = token_client(world["tree"]["root"])
    refused = client.get("/api/v1/members/", {"mobile": "maybe", "org": "x"}).json()
    assert set(refused) == {"mobile", "org"} and all(isinstance(v, list) for v in refused.values())
    assert set(client.get("/api/v1/members/0/").json()) == {"detail"}


def test_a_null_character_in_a_filter_is_refused_for_what_it_is(world):
    """Django's own Chinese says 不允许是用空字符串 ("no empty string"): misleading, and a typo."""
    client, _ = token_client(world["tree"]["root"])
    response = client.get("/api/v1/organizations/", {"q": "a\x00b", "parent": "\x00"})
    assert response.status_code == 400
    assert response.json() == {
        "q": ["不能含有空字符（NUL）。"],
        "parent": ["不能含有空字符（NUL）。"],
    }


def test_a_path_the_api_does_not_have_is_a_json_404_recorded_like_any_call(world):
    client, _ = token_client(world["tree"]["village"])
    for path in ("/api/v1/nothing/", "/api/v1/members/1.5/", "/api/v1/members/1/extra/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path
        assert response.json() == {"detail": "未找到。"}
    uses = AccessEvent.objects.filter(kind=AccessEventKind.TOKEN_USE)
    assert [e.detail["status"] for e in uses] == [404] * 3
    # Nobody learns which paths exist without a key; the schema lists only the real ones.
    assert APIClient().get("/api/v1/nothing/").status_code == 401
    assert client.get("/api/v1/members").status_code == 301  # the slash is still added


def test_a_body_that_does_not_parse_is_refused_in_chinese(world):
    """DRF's parsers answer "JSON parse error - Expecting property name …" and "Multipart form
    parse error - …": English, with the parser's own words after the dash. A signed-in user's
    write is parsed before it is refused (the session's CSRF check reads the form)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user(Role.COUNTY_ADMIN, world["tree"]["root"]))
    client.cookies["csrftoken"] = csrf = "a" * 32
    bodies = [
        ("application/json", "{bad"),
        ("multipart/form-data", "x"),
    ]
    for content_type, body in bodies:
        response = client.post(
            "/api/v1/members/", body, content_type=content_type, HTTP_X_CSRFTOKEN=csrf
        )
        assert response.status_code == 400, content_type
        assert response.json() == {"detail": "请求正文的格式有误，无法解析。"}, content_type


def test_the_schema_says_the_province_filter_takes_a_six_digit_code(world, admin_client):
    """The province's choices are a function, so no enum is published: without a word on the
    format a client sends 61 or 陕西省, which are refused."""
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    members = schema["paths"]["/api/v1/members/"]["get"]["parameters"]
    province = next(p for p in members if p["name"] == "province")
    assert "610000" in province["description"]
    assert province["schema"]["pattern"] == r"^\d{2}0000$"
    client, _ = token_client(world["tree"]["root"])
    assert client.get("/api/v1/members/", {"province": "610000"}).status_code == 200
    assert client.get("/api/v1/members/", {"province": "61"}).status_code == 400
