import datetime
import time

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from branches.tests.factories import make_branch, make_tree
from members import services
from members.choices import MemberType, MobilityEnd, PartyStatus
from members.models import Member, Mobility
from members.tests.factories import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree():
    return make_tree()


@pytest.fixture
def member(tree):
    return make_member(home_org=tree["village"], name="李四")


def outflow(member, **kw):
    defaults = {
        "left_on": datetime.date(2025, 3, 1),
        "destination_code": "610113",
        "reason": "work",
        "employer": "西安某建筑公司",
    }
    defaults.update(kw)
    return services.member_register_outflow(member=member, **defaults)


def test_register_outflow_makes_member_mobile(member, tree):
    mobility = outflow(member, inflow_org=tree["functional"])
    assert mobility.is_current
    assert mobility.destination_name == "陕西省西安市雁塔区"
    assert Member.objects.mobile().get() == member
    flagged = Member.objects.with_mobility_flags().get()
    assert flagged.is_mobile
    member.refresh_from_db()
    assert member.last_contact_on == timezone.localdate()


def test_second_current_outflow_is_refused(member):
    outflow(member)
    with pytest.raises(ValidationError) as exc:
        outflow(member, destination_code="110105")
    assert "已有未结束的外出登记" in exc.value.messages[0]
    assert Mobility.objects.count() == 1


def test_outflow_destination_must_be_a_city(member):
    with pytest.raises(ValidationError) as exc:
        outflow(member, destination_code="610000")
    assert "至少要填到地级市" in exc.value.message_dict["destination_code"][0]
    assert not Mobility.objects.exists()


def test_outflow_in_the_future_is_refused(member):
    with pytest.raises(ValidationError) as exc:
        outflow(member, left_on=timezone.localdate() + datetime.timedelta(days=3))
    assert "外出日期不能晚于今天" in exc.value.message_dict["left_on"][0]


def test_return_ends_mobility_and_keeps_history(member):
    outflow(member)
    services.member_return(member=member, returned_on=datetime.date(2025, 12, 1))
    assert not Member.objects.mobile().exists()
    mobility = member.mobilities.get()
    assert mobility.end_kind == MobilityEnd.RETURNED
    outflow(member, left_on=datetime.date(2026, 2, 1), destination_code="110105")
    assert member.mobilities.count() == 2


def test_return_before_leaving_is_refused(member):
    outflow(member)
    with pytest.raises(ValidationError):
        services.member_return(member=member, returned_on=datetime.date(2025, 1, 1))
    assert member.mobilities.current().exists()


def test_return_without_mobility_is_refused(member):
    with pytest.raises(ValidationError) as exc:
        services.member_return(member=member, returned_on=datetime.date(2025, 1, 1))
    assert "没有未结束的外出登记" in exc.value.messages[0]


def test_transfer_out_ends_mobility_and_standing(member):
    outflow(member)
    services.member_transfer_out(
        member=member, transferred_out_on=datetime.date(2026, 1, 5), transferred_to="西安市某党支部"
    )
    member.refresh_from_db()
    assert member.party_status == PartyStatus.TRANSFERRED_OUT
    assert member.transferred_to == "西安市某党支部"
    assert member.mobilities.get().end_kind == MobilityEnd.TRANSFERRED_OUT
    with pytest.raises(ValidationError) as exc:
        outflow(member, left_on=datetime.date(2026, 2, 1))
    assert "已转出" in exc.value.messages[0]


def test_transfer_out_needs_destination(member):
    with pytest.raises(ValidationError):
        services.member_transfer_out(
            member=member, transferred_out_on=datetime.date(2026, 1, 5), transferred_to=" "
        )
    member.refresh_from_db()
    assert member.party_status == PartyStatus.NORMAL


def test_a_transfer_follows_the_members_history(member):
    """The transfer date is no earlier than joining (make_member: 2010-07-01) nor than the end
    of the last registration, and not in the future, whether the member is away or home."""
    outflow(member, left_on=datetime.date(2023, 1, 1))
    services.member_return(member=member, returned_on=datetime.date(2024, 1, 1))

    def transfer(day):
        with pytest.raises(ValidationError) as exc:
            services.member_transfer_out(
                member=member, transferred_out_on=day, transferred_to="西安市某党支部"
            )
        return exc.value.message_dict["transferred_out_on"]

    assert transfer(datetime.date(1900, 1, 1)) == [
        "转出日期不能早于入党日期 2010-07-01",
        "转出日期早于该党员上次外出的结束日期 2024-01-01",
    ]
    assert transfer(datetime.date(2023, 6, 1)) == [
        "转出日期早于该党员上次外出的结束日期 2024-01-01"
    ]
    assert transfer(timezone.localdate() + datetime.timedelta(days=1)) == ["转出日期不能晚于今天"]
    member.refresh_from_db()
    assert (member.party_status, member.transferred_out_on) == (PartyStatus.NORMAL, None)
    services.member_transfer_out(
        member=member, transferred_out_on=datetime.date(2024, 1, 1), transferred_to="某党支部"
    )
    member.refresh_from_db()
    assert member.party_status == PartyStatus.TRANSFERRED_OUT


def test_an_outflow_date_is_neither_before_the_party_nor_before_birth(member):
    """Roster imports refuse these dates as they read them; the services refuse them too.
    make_member's members are born on 1985-03-14."""
    for day, message in (
        (datetime.date(1920, 1, 1), "外出日期不能早于建党之日（1921 年 7 月 1 日）"),
        (datetime.date(1985, 3, 13), "外出日期不能早于出生日期 1985-03-14"),
    ):
        with pytest.raises(ValidationError) as exc:
            outflow(member, left_on=day)
        assert exc.value.message_dict["left_on"] == [message]
    assert not member.mobilities.exists()
    mobility = outflow(member, left_on=datetime.date(1985, 3, 14))
    with pytest.raises(ValidationError):
        services.mobility_update(mobility=mobility, left_on=datetime.date(1985, 3, 13))


def test_record_contact_never_moves_backwards(member):
    services.member_record_contact(member=member, on=datetime.date(2026, 1, 1))
    before = Member.objects.get(pk=member.pk).last_contact_on
    services.member_record_contact(member=member, on=datetime.date(2020, 1, 1))
    assert Member.objects.get(pk=member.pk).last_contact_on == before


def test_convert_probationary_member(tree):
    member = make_member(
        home_org=tree["village"],
        member_type=MemberType.PROBATIONARY,
        joined_on=datetime.date(2025, 6, 1),
    )
    services.member_convert(member=member, converted_on=datetime.date(2026, 6, 1))
    member.refresh_from_db()
    assert member.member_type == MemberType.FULL


def test_update_mobility_and_refuse_unknown_fields(member):
    mobility = outflow(member)
    services.mobility_update(mobility=mobility, employer="新单位")
    mobility.refresh_from_db()
    assert mobility.employer == "新单位"
    with pytest.raises(TypeError):
        services.mobility_update(mobility=mobility, member=member)


def test_a_registration_begins_after_the_last_one_ended_however_it_is_written(member):
    """外出登记 and 修改外出信息 alike: a current registration whose 外出日期 came before the
    member's last return would overlap it, and the ledger would not import back (a roster row
    for it is refused, rosters.sql.plan)."""
    outflow(member, left_on=datetime.date(2024, 1, 1))
    services.member_return(member=member, returned_on=datetime.date(2025, 6, 15))
    with pytest.raises(ValidationError) as exc:
        outflow(member, left_on=datetime.date(2025, 6, 14))
    assert exc.value.message_dict["left_on"] == ["外出日期早于该党员上次外出的结束日期 2025-06-15"]
    mobility = outflow(member, left_on=datetime.date(2025, 6, 15))  # the day of return will do
    with pytest.raises(ValidationError) as exc:
        services.mobility_update(mobility=mobility, left_on=datetime.date(2025, 1, 1))
    assert exc.value.message_dict["left_on"] == ["外出日期早于该党员上次外出的结束日期 2025-06-15"]
    mobility.refresh_from_db()
    assert mobility.left_on == datetime.date(2025, 6, 15)
    services.mobility_update(mobility=mobility, left_on=datetime.date(2025, 7, 1))
    # Ending it checks it no more against the earlier one (nor the earlier against it).
    services.member_return(member=member, returned_on=datetime.date(2025, 8, 1))
    assert list(member.mobilities.order_by("left_on").values_list("left_on", "ended_on")) == [
        (datetime.date(2024, 1, 1), datetime.date(2025, 6, 15)),
        (datetime.date(2025, 7, 1), datetime.date(2025, 8, 1)),
    ]


def test_a_dissolved_organization_is_no_inflow_organization(member, tree):
    """The form offers active organizations only; the service (and so the API and imports)
    refuses a dissolved one the same way, and a return still ends such a registration."""
    from branches import services as org_services

    other = make_member(home_org=tree["village"], name="王五")
    mobility = outflow(other, inflow_org=tree["functional"])
    closed = make_branch(
        parent=tree["root"], name="驻郑州党支部", branch_type="functional", location_code="410100"
    )
    closed = org_services.organization_dissolve(org=closed, dissolved_on=datetime.date(2025, 1, 1))
    with pytest.raises(ValidationError) as exc:
        outflow(member, inflow_org=closed)
    assert exc.value.message_dict["inflow_org"] == ["“驻郑州党支部”已撤销，不能作为流入地党组织"]
    assert not member.mobilities.exists()
    with pytest.raises(ValidationError):
        services.mobility_update(mobility=mobility, inflow_org=closed)
    mobility.refresh_from_db()
    assert mobility.inflow_org == tree["functional"]


# --- stale forms (portal/concurrency.py) ---------------------------------------------------------


def test_a_mobility_changed_since_the_form_was_opened_is_not_saved_over(member):
    mobility = outflow(member)
    opened_on = mobility.updated_at
    services.mobility_update(mobility=mobility, employer="导入写入的单位")  # someone else
    with pytest.raises(ValidationError) as exc:
        services.mobility_update(mobility=mobility, version=opened_on, employer="旧页面的单位")
    assert exc.value.code == "stale"
    assert "该党员的外出登记已在您打开此页后被修改" in exc.value.messages[0]
    assert "请重新打开此页，按最新信息重新填写" in exc.value.messages[0]
    mobility.refresh_from_db()
    assert mobility.employer == "导入写入的单位"
    # The version it has now saves.
    services.mobility_update(mobility=mobility, version=mobility.updated_at, employer="新单位")
    mobility.refresh_from_db()
    assert mobility.employer == "新单位"


def test_a_member_changed_since_the_form_was_opened_is_not_saved_over(member):
    opened_on = member.updated_at
    services.member_update(member=member, name="李四新")
    with pytest.raises(ValidationError) as exc:
        services.member_update(member=member, version=opened_on, name="李四旧")
    assert "该党员的信息已在您打开此页后被修改" in exc.value.messages[0]
    member.refresh_from_db()
    assert member.name == "李四新"
    services.member_update(member=member, version=member.updated_at, name="李四")
    member.refresh_from_db()
    assert member.name == "李四"


def test_return_and_transfer_refuse_a_registration_changed_since_the_form_was_opened(member):
    mobility = outflow(member)
    opened_on = mobility.updated_at
    services.mobility_update(mobility=mobility, employer="导入写入的单位")
    with pytest.raises(ValidationError, match="外出登记已在您打开此页后被修改"):
        services.member_return(
            member=member, returned_on=datetime.date(2025, 6, 1), mobility_version=opened_on
        )
    with pytest.raises(ValidationError, match="外出登记已在您打开此页后被修改"):
        services.member_transfer_out(
            member=member,
            transferred_out_on=datetime.date(2025, 6, 1),
            transferred_to="某党委",
            version=Member.objects.get().updated_at,
            mobility_version=opened_on,
        )
    member.refresh_from_db()
    assert member.party_status == PartyStatus.NORMAL
    assert Mobility.objects.current().get() == mobility


def test_transfer_refuses_a_member_changed_since_the_form_was_opened(member):
    opened_on = member.updated_at
    services.member_update(member=member, remarks="他人刚改过")
    with pytest.raises(ValidationError, match="该党员的信息已在您打开此页后被修改"):
        services.member_transfer_out(
            member=member,
            transferred_out_on=datetime.date(2025, 6, 1),
            transferred_to="某党委",
            version=opened_on,
        )
    member.refresh_from_db()
    assert (member.party_status, member.transferred_to) == (PartyStatus.NORMAL, "")


@pytest.mark.django_db(transaction=True)
def test_an_organization_dissolved_while_a_registration_naming_it_commits_counts_it(member, tree):
    """A registration naming the organization as its inflow organization, not yet committed,
    while the organization is dissolved: the dissolution waits for it and then refuses (the
    organization still has a member taking part in its life), instead of not seeing it and
    leaving a current registration with a dissolved inflow organization."""
    import threading

    from django.db import connections, transaction

    from branches.choices import OrgStatus
    from branches.models import Organization
    from branches.services import organization_dissolve
    from portal.tests.locks import a_session_waits_on_a_lock

    functional = tree["functional"]
    registered, go_on, outcome = threading.Event(), threading.Event(), {}

    def register():
        try:
            with transaction.atomic():
                outflow(member, inflow_org=functional)
                registered.set()
                go_on.wait(30)
        finally:
            connections.close_all()

    def dissolve():
        try:
            organization_dissolve(org=functional, dissolved_on=timezone.localdate())
            outcome["dissolved"] = True
        except ValidationError as exc:
            outcome["refused"] = exc.messages
        finally:
            connections.close_all()

    registering = threading.Thread(target=register)
    registering.start()
    assert registered.wait(30)
    dissolving = threading.Thread(target=dissolve)
    dissolving.start()
    deadline = time.monotonic() + 30
    while dissolving.is_alive() and not a_session_waits_on_a_lock():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    go_on.set()
    registering.join(30)
    dissolving.join(30)
    assert "dissolved" not in outcome, "dissolved beside a registration naming it"
    assert "流入地党组织" in outcome["refused"][0]
    assert Organization.objects.get(pk=functional.pk).status == OrgStatus.ACTIVE
    assert Mobility.objects.current().get(member=member).inflow_org_id == functional.pk
