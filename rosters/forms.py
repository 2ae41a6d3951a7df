"""Forms of the roster pages: the upload, the confirmation of a preview, the ledger export."""

from __future__ import annotations

from django import forms
from django.db.models import Min
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from portal.generic import TREE_INDENT

from .choices import ImportKind
from .exports import CSV, XLSX
from .readers import RosterFileError, detect_format, limit

# How many bytes of an upload are enough to tell what kind of file it is.
_HEAD_BYTES = 8192


class RosterUploadForm(forms.Form):
    """A roster or organization file to preview; the import itself runs as a Celery job."""

    file = forms.FileField(
        label=_("文件"),
        help_text=_("支持 .xlsx、.xls、.csv（UTF-8 或 GBK 编码）"),
        widget=forms.FileInput(attrs={"accept": ".xlsx,.xls,.csv"}),
        error_messages={
            "required": _("请选择要上传的文件"),
            "empty": _("文件是空的，没有任何内容"),
        },
    )
    kind = forms.ChoiceField(
        label=_("文件类型"),
        choices=[
            (ImportKind.MEMBERS, _("党员登记表")),
            (ImportKind.ORGANIZATIONS, _("组织架构")),
        ],
        initial=ImportKind.MEMBERS,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    sheet = forms.CharField(
        label=_("工作表"),
        required=False,
        max_length=100,
        help_text=_("可不填：默认读取第一个工作表；也可填写工作表名称或序号"),
    )
    skip_invalid = forms.BooleanField(
        label=_("跳过错误行"),
        required=False,
        help_text=_("不勾选时，文件中有任何错误行都不导入；勾选后导入正确的行，跳过错误行"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The size limit said before a phone sends the whole file.
        self.fields["file"].help_text = gettext(
            "支持 .xlsx、.xls、.csv（UTF-8 或 GBK 编码），不超过 %(mb)d MB"
        ) % {"mb": limit("ROSTER_MAX_UPLOAD_MB")}

    def clean_file(self):
        """Refuse what can be told at once (empty, too big, not a spreadsheet), before the
        file is stored; everything else is found by the job and shown on the import's page.
        The sentences are the readers' own."""
        upload = self.cleaned_data["file"]
        if not upload.size:
            raise forms.ValidationError(gettext("文件是空的，没有任何内容"))
        max_mb = limit("ROSTER_MAX_UPLOAD_MB")
        if upload.size > max_mb * 1024 * 1024:
            raise forms.ValidationError(
                gettext(
                    "文件大小 %(size).1f MB，超过了 %(max)d MB 的上限，请拆分成几个文件分别导入"
                )
                % {"size": upload.size / 1024 / 1024, "max": max_mb}
            )
        upload.seek(0)
        head = upload.read(_HEAD_BYTES)
        upload.seek(0)
        try:
            detect_format(head, upload.name)
        except RosterFileError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


class ConfirmImportForm(forms.Form):
    """Confirm a preview: import its file for real."""

    skip_invalid = forms.BooleanField(
        label=_("跳过错误行，只导入正确的行"),
        required=False,
    )


class LedgerExportForm(forms.Form):
    """Which ledger to export: an organization of the user's ledger scope, and the format."""

    org = forms.ModelChoiceField(
        label=_("党组织"),
        queryset=None,
        required=False,
        empty_label=_("我管辖的全部党组织"),
        help_text=_("党支部导出一张表；党委导出台账册，每个党支部一个工作表"),
    )
    format = forms.ChoiceField(
        label=_("格式"),
        choices=[(XLSX, _("Excel (.xlsx)")), (CSV, _("CSV (.csv)"))],
        initial=XLSX,
    )

    def __init__(self, *args, orgs=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["org"]
        field.queryset = orgs.in_tree_order()
        base = orgs.aggregate(base=Min("depth"))["base"] or 0
        field.label_from_instance = lambda org: TREE_INDENT * (org.depth - base) + org.name
