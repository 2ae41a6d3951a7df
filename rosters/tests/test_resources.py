"""The django-import-export resources (members/resources.py, branches/resources.py).

They share the roster's columns and rules with the bulk import; these tests check that a
Resource.import_data of the same file gives the same members and the same refusals.
"""

import datetime
import io

import pytest
import tablib
from import_export.formats.base_formats import CSV, XLSX
from openpyxl import load_workbook

from branches.models import Organization
from branches.resources import OrganizationResource
from members.models import Member, Mobility
from members.resources import MemberRosterResource

from .rosterdata import HEADERS, member_rows

pytestmark = pytest.mark.django_db


def dataset(rows, headers=HEADERS) -> tablib.Dataset:
    data = tablib.Dataset(headers=list(headers))
    for row in rows:
        data.append([row.get(h, "") for h in headers])
    return data


def test_member_resource_imports_members_with_their_mobility(homes, tree):
    rows = member_rows(4, homes=homes)
    rows[2]["流入地党组织"] = tree["functional"].code
    renamed = ["身份证号" if h == "公民身份号码" else h for h in HEADERS]
    data = dataset(
        [{("身份证号" if k == "公民身份号码" else k): v for k, v in r.items()} for r in rows],
        renamed,
    )
    result = MemberRosterResource().import_data(data)
    assert not result.has_errors() and not result.has_validation_errors()
    assert Member.objects.count() == 4 and Mobility.objects.current().count() == 4
    member = Member.objects.by_id_number(rows[2]["公民身份号码"]).get()
    assert member.mobilities.get().inflow_org == tree["functional"]
    # Again, with a change: updated in place.
    rows[0]["联系电话"] = "13911112222"
    result = MemberRosterResource().import_data(dataset(rows))
    assert not result.has_validation_errors()
    assert Member.objects.count() == 4 and Mobility.objects.count() == 4
    assert Member.objects.by_id_number(rows[0]["公民身份号码"]).get().phone == "13911112222"


def test_member_resource_refuses_what_the_roster_import_refuses(homes):
    rows = member_rows(3, homes=homes)
    rows[1]["公民身份号码"] = 110105194912310000.0
    rows[2]["入党日期"] = "2030-01-01"
    result = MemberRosterResource().import_data(dataset(rows), rollback_on_validation_errors=True)
    assert result.has_validation_errors()
    errors = {row.number: row.error.message_dict for row in result.invalid_rows}
    assert errors[2] == {
        "公民身份号码": [
            "身份证号被 Excel 转成了数字，后几位已丢失，请将该列设置为文本格式后重新填写"
        ]
    }
    assert "入党日期不能晚于今天" in errors[3]["入党日期"]
    assert Member.objects.count() == 0


def test_member_resource_does_not_update_a_member_out_of_standing(homes):
    """As the roster import (test_services.py, test_a_member_not_in_standing_is_not_updated):
    the row is refused and the member is left as stored."""
    from members import services

    rows = member_rows(1, homes=homes)
    MemberRosterResource().import_data(dataset(rows))
    member = Member.objects.get()
    services.member_transfer_out(
        member=member, transferred_out_on=datetime.date(2025, 1, 1), transferred_to="外省某党支部"
    )
    result = MemberRosterResource().import_data(dataset([{**rows[0], "联系电话": "13700000000"}]))
    assert [row.error.messages for row in result.invalid_rows] == [
        ["该党员党籍状态为“已转出”，不能办理此项业务"]
    ]
    assert Member.objects.get().phone == rows[0]["联系电话"]


def test_member_resource_writes_a_refused_row_in_no_part(homes):
    """A row is its member and their registration: when the registration is refused (外出日期
    before the last return, as the roster import refuses it), the member's changes in the row
    are not kept either."""
    from members import services

    rows = member_rows(1, homes=homes)
    MemberRosterResource().import_data(dataset(rows))
    member = Member.objects.get()
    services.member_return(member=member, returned_on=datetime.date(2024, 1, 1))
    changed = {**rows[0], "联系电话": "13700000000", "外出日期": "2023-06-01"}
    result = MemberRosterResource().import_data(dataset([changed]))
    assert [row.error.message_dict for row in result.invalid_rows] == [
        {"left_on": ["外出日期早于该党员上次外出的结束日期 2024-01-01"]}
    ]
    assert Member.objects.get().phone == rows[0]["联系电话"]
    assert not Mobility.objects.current().exists()


def test_member_resource_exports_the_roster_layout(homes):
    rows = member_rows(2, homes=homes)
    MemberRosterResource().import_data(dataset(rows))
    exported = MemberRosterResource().export()
    assert exported.headers == [h for h in HEADERS if h != "序号"]
    first = dict(zip(exported.headers, exported[0], strict=True))
    assert first["外出日期"] == "2020-03-01"
    assert first["流入地"] in ("陕西省西安市雁塔区", "北京市朝阳区")
    assert first["性别"] in ("男", "女")


def test_member_resource_exports_formulas_as_text(homes):
    """IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT: the resource's own file formats escape them."""
    row = {**member_rows(1, homes=homes)[0], "备注": '=HYPERLINK("http://x")'}
    MemberRosterResource().import_data(dataset([row]))
    assert Member.objects.get().remarks == row["备注"]
    exported = MemberRosterResource().export()
    sheet = load_workbook(io.BytesIO(XLSX().export_data(exported))).active
    remarks = [c.value for c in sheet[2]][exported.headers.index("备注")]
    assert remarks == 'HYPERLINK("http://x")' and sheet.cell(2, 1).data_type != "f"
    assert "=HYPERLINK" not in CSV().export_data(exported)


def test_organization_resource(tree):
    headers = ["组织编码", "组织名称", "上级组织编码", "组织类别", "支部类型", "所在地", "成立日期",
               "计划撤销日期", "依托单位", "联系电话"]  # fmt: skip
    data = tablib.Dataset(headers=headers)
    data.append(["R1", "新党委", tree["root"].code, "党委", "", "", "2020-01-01", "", "", ""])
    data.append(["R2", "新支部", "R1", "党支部", "临时", "陕西西安", "", "2030-01-01", "", ""])
    data.append(["R3", "坏支部", "R1", "党支部", "", "", "", "", "", ""])
    result = OrganizationResource().import_data(data)
    assert result.has_validation_errors()
    assert [row.number for row in result.invalid_rows] == [3]
    data = tablib.Dataset(headers=headers)
    data.append(["R1", "新党委", tree["root"].code, "党委", "", "", "2020-01-01", "", "", ""])
    data.append(["R2", "新支部", "R1", "党支部", "临时", "陕西西安", "", "2030-01-01", "", ""])
    result = OrganizationResource().import_data(data)
    assert not result.has_errors() and not result.has_validation_errors()
    branch = Organization.objects.get(code="R2")
    assert (branch.parent.code, branch.location_code) == ("R1", "610100")
    assert branch.planned_end_on == datetime.date(2030, 1, 1)
    exported = OrganizationResource().export(queryset=Organization.objects.filter(code="R2"))
    assert list(exported[0]) == ["R2", "新支部", "R1", "党支部", "临时", "陕西省西安市", "",
                                 "2030-01-01", "", ""]  # fmt: skip
