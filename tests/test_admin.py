"""The back office (Django admin): no duty leads to the others, and masking holds there too."""

import pytest
from django.contrib.auth import get_user_model

from branches.tests.factories import make_tree
from members.tests.factories import make_member
from portal.choices import Role
from portal.services import role_grant

pytestmark = pytest.mark.django_db
PASSWORD = "Secret#2026pw"


@pytest.fixture
def system_admin(client):
    user = role_grant(username="sysadm", role=Role.SYSTEM_ADMIN, password=PASSWORD).user
    client.force_login(user)
    return user


def _account_form(user, **changes) -> dict:
    """The fields of the admin's account form, as a browser would post them back."""
    return {
        "username": user.username,
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "08:00:00",
        **changes,
    }


def test_a_system_administrator_cannot_make_anyone_a_superuser(client, system_admin):
    url = f"/admin/auth/user/{system_admin.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="username"' in page and 'name="is_superuser"' not in page
    response = client.post(url, _account_form(system_admin, is_superuser="on"))
    assert response.status_code == 302  # saved: the other fields are theirs to change
    system_admin.refresh_from_db()
    assert not system_admin.is_superuser
    # Nor hand out Django permissions or groups, which would bypass the duty roles.
    assert 'name="user_permissions"' not in page and 'name="groups"' not in page


def test_a_system_administrator_cannot_touch_a_superuser(client, system_admin):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    # The account can be looked at, read-only; not changed, given a password or deleted.
    change = f"/admin/auth/user/{root.pk}/change/"
    assert 'name="username"' not in client.get(change).content.decode()
    assert client.post(change, _account_form(root, is_active="")).status_code == 403
    for url in (f"/admin/auth/user/{root.pk}/password/", f"/admin/auth/user/{root.pk}/delete/"):
        assert client.get(url).status_code == 403, url
    response = client.post(
        f"/admin/auth/user/{root.pk}/password/",
        {"password1": "Another#2026pw", "password2": "Another#2026pw"},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.is_active and root.check_password(PASSWORD)
    # Other accounts remain theirs to manage.
    other = get_user_model().objects.create_user("clerk", password=PASSWORD)
    assert client.get(f"/admin/auth/user/{other.pk}/change/").status_code == 200


def test_the_member_admin_shows_id_numbers_and_phones_masked(client):
    tree = make_tree()
    member = make_member(home_org=tree["village"])
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    page = client.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert member.id_number not in page and member.phone not in page
    assert member.id_number[:4] + "*" * 10 + member.id_number[-4:] in page
    assert member.phone[:3] + "****" + member.phone[-4:] in page
    # A new member's number is typed in the add form as usual.
    assert 'name="id_number"' in client.get("/admin/members/member/add/").content.decode()
