"""The record of every roster import (ROSTER-FORMAT.md, "Outcome")."""

from __future__ import annotations

import datetime
import functools
import json

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import triggers
from portal.fields import EncryptedTextField
from portal.storage import sealed_uploads

from .choices import FINISHED_STATUSES, ImportKind, ImportStatus, LinkAction

# An import still queued after this long has likely no Celery worker to run it.
STALLED = datetime.timedelta(minutes=2)


class RosterImportQuerySet(models.QuerySet):
    def visible_to(self, user) -> RosterImportQuerySet:
        """The scoping door for imports: a user opens their own, and those of the ledger
        keepers (county admins, committee staff) whose organizations lie in the subtrees where
        the user keeps ledgers: the county sees every township's imports, a township its own
        staff's. Command-line imports made without ``--user`` are a superuser's to open."""
        from portal.choices import LEDGER_ROLES
        from portal.models import RoleAssignment
        from portal.scoping import scope_for

        scope = scope_for(user)
        if scope.everything:
            return self.all()
        if not user.is_authenticated:
            return self.none()
        if not scope.ledger_paths:
            return self.filter(user=user)
        # Someone else's import may hold any row of its uploader's scope (its bad rows are
        # kept as read): it opens only when all of the uploader's ledger scope lies inside
        # the user's, not when one of their roles does.
        ledger = RoleAssignment.objects.filter(role__in=LEDGER_ROLES)
        inside = scope.path_q("organization__path", scope.ledger_paths)
        keepers = ledger.filter(inside).values("user")
        elsewhere = ledger.exclude(inside).values("user")
        return self.filter(Q(user=user) | (Q(user__in=keepers) & ~Q(user__in=elsewhere)))


# An import's record and its links to members are written by the import itself (their rows are
# the record); deleting them, in the back office, is a change the trail keeps.
@triggers.track(
    triggers.DeleteEvent(level=pghistory.Statement), exclude=["errors_data", "bad_rows_data"]
)
class RosterImport(models.Model):
    """One file brought in (or previewed): who, when, which file, and what came of each row.

    The problems found are kept with it, so the error report and the copy of the bad rows can be
    downloaded again later; ``progress`` is written while a Celery job runs, from a connection of
    its own, so a progress bar survives a page reload.
    """

    kind = models.CharField(
        _("类型"), max_length=20, choices=ImportKind.choices, default=ImportKind.MEMBERS
    )
    status = models.CharField(
        _("状态"), max_length=20, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    dry_run = models.BooleanField(_("仅预览"), default=False)
    skip_invalid = models.BooleanField(_("跳过错误行"), default=False)
    # Uploads from the browser are limited to what their user is responsible for.
    scoped = models.BooleanField(_("限于操作人管辖范围"), default=False)
    # Sealed at rest (portal/storage.py): an uploaded roster holds ID numbers in clear.
    file = models.FileField(
        _("文件"),
        upload_to="rosters/%Y/%m/",
        storage=sealed_uploads,
        blank=True,
        max_length=255,
    )
    filename = models.CharField(_("文件名"), max_length=255)
    sheet = models.CharField(_("工作表"), max_length=100, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="roster_imports",
    )
    operator = models.CharField(
        _("操作人"),
        max_length=150,
        blank=True,
        default="",
        help_text=_("用户名；命令行导入未指定用户时为运行命令的系统用户"),
    )
    ip_address = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    members = models.ManyToManyField(
        "members.Member",
        verbose_name=_("涉及党员"),
        through="RosterImportMember",
        related_name="roster_imports",
        blank=True,
    )
    created_at = models.DateTimeField(_("提交时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    task_id = models.CharField(_("任务编号"), max_length=64, blank=True, default="")
    # The preview a real import was confirmed from (the stored file is deleted once imported,
    # so the file cannot tie them together).
    preview = models.OneToOneField(
        "self",
        verbose_name=_("预览"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="confirmation",
    )
    # Times a worker started it: one whose worker died runs again, a bounded number of times.
    runs = models.PositiveSmallIntegerField(_("运行次数"), default=0, editable=False)

    rows_read = models.PositiveIntegerField(_("读取行数"), default=0)
    rows_created = models.PositiveIntegerField(_("新增"), default=0)
    rows_updated = models.PositiveIntegerField(_("更新"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("未变"), default=0)
    rows_skipped = models.PositiveIntegerField(
        _("跳过"), default=0, help_text=_("选择“跳过错误行”时未导入的错误行数")
    )
    rows_bad = models.PositiveIntegerField(_("错误行数"), default=0)
    progress = models.PositiveIntegerField(_("已处理行数"), default=0)
    progress_total = models.PositiveIntegerField(_("预计总行数"), default=0)

    message = models.TextField(_("说明"), blank=True, default="")
    warnings = models.JSONField(_("提示"), default=list, blank=True)
    # The problems and the bad rows as read hold ID numbers and phones: encrypted at rest like
    # the members' own (portal/crypto.py). JSON inside; read them through ``errors`` and
    # ``bad_rows``.
    errors_data = EncryptedTextField(_("错误清单"), blank=True, default="", editable=False)
    bad_rows_data = EncryptedTextField(_("错误行"), blank=True, default="", editable=False)

    objects = RosterImportQuerySet.as_manager()

    class Meta:
        verbose_name = _("导入记录")
        verbose_name_plural = _("导入记录")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def errors(self) -> list[list]:
        """[[row number, column as headed in the file, value as read, reason], ...]."""
        return json.loads(self.errors_data) if self.errors_data else []

    @errors.setter
    def errors(self, value: list[list]) -> None:
        self.errors_data = json.dumps(value, ensure_ascii=False) if value else ""

    @property
    def bad_rows(self) -> dict:
        """{"headers": [...], "rows": [[row number, [cells as read], "reasons"], ...]}."""
        return json.loads(self.bad_rows_data) if self.bad_rows_data else {"headers": [], "rows": []}

    @bad_rows.setter
    def bad_rows(self, value: dict) -> None:
        self.bad_rows_data = json.dumps(value, ensure_ascii=False) if value.get("rows") else ""

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def stalled(self) -> bool:
        """Queued longer than a worker takes to pick an import up: no worker may be running
        (unless it is ``waiting`` for another import, which the page checks first)."""
        return self.status == ImportStatus.PENDING and timezone.now() - self.created_at > STALLED

    @functools.cached_property
    def waiting(self) -> bool:
        """Queued behind another import, or a change of the organization tree, under way."""
        from .services import roster_import_waiting

        return roster_import_waiting(self)

    @functools.cached_property
    def interrupted(self) -> bool:
        """Marked running, but the worker running it is gone: it will be queued again."""
        from .services import roster_import_interrupted

        return roster_import_interrupted(self)

    @property
    def runs_left(self) -> bool:
        """Whether an interrupted import will be run again (else it will be failed)."""
        from .services import IMPORT_RUNS

        return self.runs < IMPORT_RUNS

    @property
    def percent(self) -> int:
        """Progress for a progress bar, 0-100."""
        if self.is_finished:
            return 100
        if not self.progress_total:
            return 0
        return min(99, self.progress * 100 // self.progress_total)


@triggers.track(triggers.DeleteEvent(level=pghistory.Statement))
class RosterImportMember(models.Model):
    """A member an import created or updated: each member keeps the imports that touched them."""

    # No database-level foreign keys: an import of 100,000 rows would otherwise check 200,000
    # references at commit for rows the same statement just read from the tables they point
    # to. Deleting a member or an import still cascades (Django's on_delete).
    roster_import = models.ForeignKey(
        RosterImport,
        verbose_name=_("导入记录"),
        on_delete=models.CASCADE,
        related_name="member_links",
        db_constraint=False,
        db_index=False,  # the unique constraint's index starts with it
    )
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("党员"),
        on_delete=models.CASCADE,
        related_name="roster_links",
        db_constraint=False,
    )
    action = models.CharField(_("操作"), max_length=20, choices=LinkAction.choices)
    row_number = models.PositiveIntegerField(_("行号"))

    class Meta:
        verbose_name = _("导入涉及的党员")
        verbose_name_plural = _("导入涉及的党员")
        ordering = ["roster_import", "row_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["roster_import", "member"],
                name="roster_link_once_per_import",
                violation_error_message=_("同一次导入中党员只记录一次"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.roster_import_id}: {self.member_id} {self.get_action_display()}"
