"""Non-trivial reads of the organization tree, shared by the tree, detail and home pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from members.choices import MemberType, PartyStatus
from members.models import Member

from .models import Organization


@dataclass
class Tally:
    """Members in normal standing whose 组织关系 an organization holds."""

    members: int = 0
    full_members: int = 0


@dataclass
class TreeNode:
    org: Organization
    tally: Tally  # the organization's own members
    subtree_members: int = 0  # its own and all its descendants'
    warnings: list[str] = field(default_factory=list)
    children: list[TreeNode] = field(default_factory=list)


def tallies(members) -> dict[int, Tally]:
    """Per home organization, in one grouped query over ``members`` (already scoped)."""
    rows = (
        members.filter(party_status=PartyStatus.NORMAL)
        .order_by()
        .values("home_org")
        .annotate(
            members=Count("pk"), full_members=Count("pk", filter=Q(member_type=MemberType.FULL))
        )
    )
    return {r["home_org"]: Tally(r["members"], r["full_members"]) for r in rows}


def build_tree(orgs, counts: dict[int, Tally]) -> list[TreeNode]:
    """Nest ``orgs`` and sum member counts up the tree, in Python (no query per node).

    The roots are the organizations whose parent is not among ``orgs`` (the top of each subtree
    the user sees).
    """
    nodes = {o.pk: TreeNode(o, counts.get(o.pk, Tally())) for o in orgs}
    roots: list[TreeNode] = []
    for node in nodes.values():
        node.warnings = node.org.practice_warnings(
            full_members=node.tally.full_members, members=node.tally.members
        )
        parent = nodes.get(node.org.parent_id)
        (parent.children if parent else roots).append(node)
    # Siblings in code order (organization codes follow the county's numbering); paths would
    # sort /1/10/ before /1/9/.
    for node in nodes.values():
        node.children.sort(key=lambda n: n.org.code)
    roots.sort(key=lambda n: n.org.code)
    # Deepest first, so each node's children are complete before it adds itself to its parent.
    for node in sorted(nodes.values(), key=lambda n: n.org.depth, reverse=True):
        node.subtree_members += node.tally.members
        parent = nodes.get(node.org.parent_id)
        if parent:
            parent.subtree_members += node.subtree_members
    return roots


def walk(nodes: list[TreeNode]):
    """``nodes`` and everything below them, depth first, in display order."""
    for node in nodes:
        yield node
        yield from walk(node.children)


def scoped_tree(user) -> list[TreeNode]:
    """The roots of the user's visible tree, with counts and warnings: two queries."""
    orgs = Organization.objects.visible_to(user).order_by("path")
    return build_tree(orgs, tallies(Member.objects.visible_to(user)))
