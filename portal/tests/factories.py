"""Users with roles, for tests."""

import itertools

from django.contrib.auth import get_user_model

from portal.models import RoleAssignment

_n = itertools.count(1)


def make_user(role=None, organization=None, **kw):
    User = get_user_model()
    user = User.objects.create_user(username=kw.pop("username", f"user{next(_n)}"), **kw)
    if role:
        RoleAssignment.objects.create(user=user, role=role, organization=organization)
    return user
