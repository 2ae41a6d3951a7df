"""Organizations for tests, built through the services so every rule applies."""

import datetime
import itertools

from branches import services
from branches.choices import BranchType, OrgKind

_codes = itertools.count(1)


def next_code(prefix: str = "T") -> str:
    return f"{prefix}{next(_codes):06d}"


def make_committee(*, parent=None, name="测试县委", **kw):
    return services.organization_create(
        code=kw.pop("code", next_code("C")), name=name, kind=OrgKind.COMMITTEE, parent=parent, **kw
    )


def make_branch(*, parent, branch_type=BranchType.ESTABLISHED, name="测试党支部", **kw):
    if branch_type == BranchType.TEMPORARY:
        kw.setdefault("planned_end_on", datetime.date(2030, 1, 1))
    return services.organization_create(
        code=kw.pop("code", next_code("B")),
        name=name,
        kind=OrgKind.BRANCH,
        branch_type=branch_type,
        parent=parent,
        **kw,
    )


def make_tree():
    """A small county: root → township committee → two established branches, a functional one."""
    root = make_committee(name="中共测试县委")
    township = make_committee(parent=root, name="测试镇党委")
    village = make_branch(parent=township, name="东村党支部")
    other = make_branch(parent=township, name="西村党支部")
    functional = make_branch(
        parent=root, name="驻西安党支部", branch_type=BranchType.FUNCTIONAL, location_code="610100"
    )
    return {
        "root": root,
        "township": township,
        "village": village,
        "other": other,
        "functional": functional,
    }
