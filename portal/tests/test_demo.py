"""The demo county (portal/demo.py and ``manage.py seed_demo``)."""

import datetime
import io
import itertools
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Q

from branches.choices import BranchType, OrgKind
from branches.models import BranchTypeChange, Organization
from members.choices import Gender, MemberType, MobilityEnd, PartyStatus
from members.models import Member, Mobility
from members.validators import id_check_char, id_number_info
from portal import demo, regions

pytestmark = pytest.mark.django_db

SMALL = 300


def seed(*args):
    call_command("seed_demo", *args, stdout=io.StringIO())


def snapshot():
    """Every generated value that must not depend on the run, keyed by codes, not pks."""
    members = sorted(
        Member.objects.values_list(
            "id_number", "name", "gender", "ethnicity", "birth_date", "education", "phone",
            "member_type", "joined_on", "converted_on", "home_org__code", "party_status",
            "last_contact_on", "transferred_out_on", "transferred_to",
        )
    )  # fmt: skip
    mobilities = sorted(
        Mobility.objects.values_list(
            "member__id_number", "left_on", "reason", "destination_code", "destination_address",
            "employer", "inflow_org__code", "inflow_org_name", "certificate_no", "contact_person",
            "ended_on", "end_kind",
        ),
        key=repr,
    )  # fmt: skip
    return members, mobilities


def outside_branches():
    return Organization.objects.filter(kind=OrgKind.BRANCH).exclude(location_code="")


def test_county_tree_is_wanrong_like_and_built_once():
    county = demo.build_county()
    root = Organization.objects.get(code=demo.ROOT_CODE)
    assert county.root == root and root.parent is None and root.name == "中共万荣县委员会"

    townships = Organization.objects.filter(parent=root, kind=OrgKind.COMMITTEE).exclude(
        code=demo.MOBILE_COMMITTEE_CODE
    )
    assert sorted(t.name for t in townships) == sorted(
        f"中共万荣县{name}委员会" for name in demo.TOWNSHIPS
    )
    villages = Organization.objects.filter(parent__in=townships, kind=OrgKind.BRANCH)
    assert villages.filter(branch_type=BranchType.JOINT).exists()
    assert villages.filter(name__endswith="村党支部").count() >= 14 * 4
    assert not villages.filter(name__contains="村村").exists()
    assert Organization.objects.filter(kind=OrgKind.GROUP, parent__in=villages).count() >= 20

    general = Organization.objects.get(code=demo.OUTSIDE_GENERAL_BRANCH_CODE)
    assert general.kind == OrgKind.GENERAL_BRANCH and general.name == "万荣县在外党总支"
    outside = outside_branches().filter(parent=general)
    assert outside.filter(branch_type=BranchType.ESTABLISHED).count() >= 17
    assert outside.filter(branch_type=BranchType.FUNCTIONAL).count() >= 16
    provinces = {regions.province_of(o.location_code).code for o in outside}
    assert len(provinces) >= 20
    assert all(o.host_unit for o in outside)

    temporary = Organization.objects.filter(branch_type=BranchType.TEMPORARY)
    assert temporary.count() >= 3
    assert all(t.planned_end_on and t.planned_end_on > t.established_on for t in temporary)
    overdue = {t.name for t in temporary if any("计划撤销日期" in w for w in t.practice_warnings(
        full_members=0))}  # fmt: skip
    assert "万荣县驻太原高速公路项目临时党支部" in overdue

    # The Xi'an branch began functional and became established in 2019, and the history says so.
    xian = Organization.objects.get(name="万荣县驻西安党支部")
    assert xian.branch_type == BranchType.ESTABLISHED and xian.location_code == "610100"
    change = BranchTypeChange.objects.get(organization=xian)
    assert (change.from_type, change.to_type) == (BranchType.FUNCTIONAL, BranchType.ESTABLISHED)
    assert change.changed_on.year == 2019

    # Homes are exactly the branches that may hold memberships, outside established ones too.
    assert {h.pk for h in county.homes} == set(
        Organization.objects.membership_homes().values_list("pk", flat=True)
    )
    assert xian in county.homes

    # A second build creates nothing and converts nothing again.
    before = Organization.objects.count()
    again = demo.build_county()
    assert again.created == 0
    assert Organization.objects.count() == before
    assert BranchTypeChange.objects.count() == 1
    assert [h.pk for h in again.homes] == [h.pk for h in county.homes]


def test_every_generated_row_passes_full_clean_and_the_roster_looks_real():
    seed("--seed", "7", "--members", str(SMALL))
    members = list(Member.objects.select_related("home_org"))
    assert len(members) == SMALL
    for member in members:
        member.full_clean()
        info = id_number_info(member.id_number)
        assert member.id_number[17] == id_check_char(member.id_number[:17])
        assert member.id_number[:6] in {area for area, _w in demo.ID_AREAS}
        assert (member.gender, member.birth_date) == (info.gender, info.birth_date)
        assert member.home_org.holds_memberships
    mobilities = list(Mobility.objects.select_related("member", "inflow_org"))
    for mobility in mobilities:
        mobility.full_clean()
        assert not (mobility.inflow_org_id and mobility.inflow_org_name)
        if mobility.inflow_org_id:
            # Members take part in the life of our branch in the city they went to.
            assert mobility.inflow_org.branch_type in (
                BranchType.ESTABLISHED,
                BranchType.FUNCTIONAL,
            )
            assert regions.city_of(mobility.inflow_org.location_code) == regions.city_of(
                mobility.destination_code
            )
    # At most one current registration; an earlier one ended before the next began.
    previous = {}
    for mobility in sorted(mobilities, key=lambda m: (m.member_id, m.left_on)):
        if mobility.member_id in previous:
            earlier = previous[mobility.member_id]
            assert earlier.ended_on and earlier.ended_on <= mobility.left_on
        previous[mobility.member_id] = mobility

    # The shapes the portal's pages and counts show.
    qs = Member.objects.all()
    total = SMALL
    assert 0.8 * total <= qs.mobile().count() <= 0.95 * total
    # Dates are fixed relative to the anchor, so "lost" is judged as of the anchor too (as of
    # today, everyone drifts into lost contact as the real calendar moves on).
    assert 0.02 * total <= qs.lost_contact(as_of=demo.ANCHOR).count() <= 0.1 * total
    types = Counter(qs.values_list("member_type", flat=True))
    assert 0.05 * total <= types[MemberType.PROBATIONARY] <= 0.16 * total
    genders = Counter(qs.values_list("gender", flat=True))
    assert genders[Gender.MALE] > genders[Gender.FEMALE] > 0
    assert qs.filter(home_org__location_code="").count() > total / 2  # most stay village members
    assert qs.exclude(home_org__location_code="").exists()

    # Transferred out: the standing says so and the last registration ended by the transfer.
    transferred = qs.filter(party_status=PartyStatus.TRANSFERRED_OUT)
    for member in transferred:
        assert member.transferred_to and member.transferred_out_on
        last = member.mobilities.order_by("-left_on").first()
        assert (last.end_kind, last.ended_on) == (
            MobilityEnd.TRANSFERRED_OUT,
            member.transferred_out_on,
        )
        assert not member.mobilities.current().exists()
    # Some came back for good, some were away once before their current stay.
    assert qs.exclude(mobilities__end_kind="").filter(mobilities__end_kind=MobilityEnd.RETURNED)
    assert (
        qs.annotate(
            n=Count("mobilities"), current=Count("mobilities", filter=Q(mobilities__ended_on=None))
        )
        .filter(n=2, current=1)
        .exists()
    )
    # More go to Xi'an, Taiyuan and Beijing than anywhere else.
    cities = Counter(
        regions.city_of(code).name
        for code in Mobility.objects.current().values_list("destination_code", flat=True)
    )
    assert {name for name, _n in cities.most_common(3)} == {"西安市", "太原市", "北京市"}
    assert Mobility.objects.current().exclude(certificate_no="").exists()
    assert Mobility.objects.current().filter(inflow_org=None).exclude(inflow_org_name="").exists()


def test_same_seed_same_data_rerun_adds_nothing_other_seed_other_data(capsys):
    call_command("seed_demo", "--seed", "3", "--members", str(SMALL))
    out = capsys.readouterr().out
    assert f"党员 {SMALL} 名（本次新增 {SMALL} 名）" in out
    assert "在外党组织" in out and "流动党员" in out and "失联党员" in out and "用时" in out
    counts = (Organization.objects.count(), Member.objects.count(), Mobility.objects.count())
    first = snapshot()
    assert len(first[0]) == SMALL and first[1]

    # Running again adds nothing.
    call_command("seed_demo", "--seed", "3", "--members", str(SMALL))
    assert "本次新增 0 名" in capsys.readouterr().out
    assert (Organization.objects.count(), Member.objects.count(), Mobility.objects.count()) == (
        counts
    )
    assert snapshot() == first

    # Into an empty roster, with another batch size: the same people, the same registrations.
    Mobility.objects.all().delete()
    Member.objects.all().delete()
    seed("--seed", "3", "--members", str(SMALL), "--batch-size", "70")
    assert snapshot() == first

    # A larger run adds only the new members; the first ones stay as they were.
    seed("--seed", "3", "--members", str(SMALL + 50))
    members, mobilities = snapshot()
    assert len(members) == SMALL + 50
    assert set(first[0]) <= set(members) and set(first[1]) <= set(mobilities)

    # Another seed: other people.
    Mobility.objects.all().delete()
    Member.objects.all().delete()
    seed("--seed", "4", "--members", str(SMALL))
    other = snapshot()
    assert len(other[0]) == SMALL
    assert len({m[0] for m in other[0]} & {m[0] for m in first[0]}) < 3
    assert [m[1] for m in other[0]] != [m[1] for m in first[0]]


def test_members_are_inserted_in_batches_not_row_by_row(django_assert_max_num_queries):
    county = demo.build_county()
    with django_assert_max_num_queries(30):
        demo.build_members(county, seed=1, count=SMALL, batch_size=100)
    assert Member.objects.count() == SMALL


@pytest.mark.django_db(False)
def test_id_numbers_and_phones_are_unique_by_construction():
    """No collisions: the (birth date, sequence) pair of member i is a bijection of i."""
    assert demo.ID_SPACE >= 5_000_000
    village, xian = Organization(pk=1), Organization(pk=2, location_code="610100")
    county = demo.County(
        root=Organization(pk=3), homes=[village, xian], home_weights=[3, 1],
        branches_by_city={"610100": [xian]},
    )  # fmt: skip
    generator = demo._MemberGenerator(11, demo._plan(county))
    rows = [member for member, _mobilities in itertools.islice(generator, 20_000)]
    assert len({m["id_number"] for m in rows}) == len(rows)
    assert len({m["phone"][3:] for m in rows}) == len(rows)
    assert all(m["id_number"][17] == id_check_char(m["id_number"][:17]) for m in rows)

    # Shares too small to show in a few hundred members (see DOMAIN.md "Members").
    statuses = Counter(m["party_status"] for m in rows)
    assert 0.002 < statuses[PartyStatus.STOPPED] / len(rows) < 0.01
    assert 0.005 < statuses[PartyStatus.TRANSFERRED_OUT] / len(rows) < 0.03
    probationary = sum(m["member_type"] == MemberType.PROBATIONARY for m in rows)
    assert 0.07 < probationary / len(rows) < 0.13
    lost = sum(
        m["party_status"] == PartyStatus.NORMAL
        and m["last_contact_on"] < demo.ANCHOR - datetime.timedelta(days=183)
        for m in rows
    )
    assert 0.03 < lost / len(rows) < 0.08

    small = demo._AffinePermutation(a=7, b=3, n=1000)
    assert sorted(small(x) for x in range(1000)) == list(range(1000))


def test_command_rejects_impossible_sizes():
    with pytest.raises(CommandError, match="党员人数"):
        call_command("seed_demo", "--members", "-1")
    assert not Organization.objects.exists()
