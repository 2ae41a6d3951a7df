"""Closed lists of roster imports."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportKind(models.TextChoices):
    """What a file brings in."""

    MEMBERS = "members", _("党员登记表")
    ORGANIZATIONS = "organizations", _("党组织")


class ImportStatus(models.TextChoices):
    """Where an import stands. Only IMPORTED means the data was written."""

    PENDING = "pending", _("排队中")
    RUNNING = "running", _("处理中")
    PREVIEWED = "previewed", _("已预览")
    IMPORTED = "imported", _("已导入")
    REFUSED = "refused", _("有错误，未导入")
    FAILED = "failed", _("处理失败")


FINISHED_STATUSES = (
    ImportStatus.PREVIEWED,
    ImportStatus.IMPORTED,
    ImportStatus.REFUSED,
    ImportStatus.FAILED,
)


class LinkAction(models.TextChoices):
    """What an import did to a member."""

    CREATED = "created", _("新增")
    UPDATED = "updated", _("更新")
