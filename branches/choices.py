"""Closed lists of the organization tree (DOMAIN.md, "Organizations")."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrgKind(models.TextChoices):
    """组织类别: where an organization sits in the tree."""

    COMMITTEE = "committee", _("党委")
    WORKING_COMMITTEE = "working_committee", _("党工委")
    GENERAL_BRANCH = "general_branch", _("党总支")
    BRANCH = "branch", _("党支部")
    GROUP = "group", _("党小组")


class BranchType(models.TextChoices):
    """支部类型: only a 党支部 has one."""

    ESTABLISHED = "established", _("建制型")
    JOINT = "joint", _("联合")
    FUNCTIONAL = "functional", _("功能型")
    TEMPORARY = "temporary", _("临时")


class OrgStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    DISSOLVED = "dissolved", _("已撤销")


# Branch types that may be the home of a member's 组织关系 (membership).
MEMBERSHIP_BRANCH_TYPES = (BranchType.ESTABLISHED, BranchType.JOINT)
