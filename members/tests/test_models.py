import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from branches.tests.factories import make_tree
from members.choices import Gender, MemberType
from members.models import Member
from members.tests.factories import make_id_number, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def village():
    return make_tree()["village"]


def test_id_number_is_normalized_and_gender_birth_derived(village):
    raw = "'１１０１０５１９４９１２３１００２x"
    member = make_member(home_org=village, id_number=raw, joined_on=datetime.date(1975, 7, 1))
    assert member.id_number == "11010519491231002X"
    assert member.gender == Gender.FEMALE
    assert member.birth_date == datetime.date(1949, 12, 31)


def test_fifteen_digit_id_number_is_upgraded(village):
    member = make_member(
        home_org=village, id_number="110105491231002", joined_on=datetime.date(1975, 7, 1)
    )
    assert member.id_number == "11010519491231002X"


def test_gender_must_agree_with_id_number(village):
    with pytest.raises(ValidationError) as exc:
        make_member(home_org=village, gender=Gender.FEMALE, id_number=make_id_number(male=True))
    assert "性别“女”与身份证号不符" in exc.value.message_dict["gender"][0]
    assert Member.objects.count() == 0


def test_birth_date_must_agree_with_id_number(village):
    with pytest.raises(ValidationError) as exc:
        make_member(
            home_org=village,
            id_number=make_id_number(birth=datetime.date(1985, 3, 14)),
            birth_date=datetime.date(1985, 3, 15),
        )
    assert "与身份证号中的 1985-03-14 不符" in exc.value.message_dict["birth_date"][0]


def test_bad_check_character_message_names_the_expected_one(village):
    with pytest.raises(ValidationError) as exc:
        make_member(home_org=village, id_number="110105194912310021")
    assert "校验位" in exc.value.message_dict["id_number"][0]


def test_joining_under_18_is_refused(village):
    with pytest.raises(ValidationError) as exc:
        make_member(
            home_org=village,
            birth=datetime.date(2000, 5, 1),
            joined_on=datetime.date(2018, 4, 30),
        )
    assert "未满 18 周岁" in exc.value.message_dict["joined_on"][0]


def test_joining_before_the_party_was_founded_is_refused(village):
    """Born in 1900 and 18 by 1918, yet no one joined before 1 July 1921: the rule the roster
    import checks is the model's, so forms and the API refuse it too."""
    with pytest.raises(ValidationError) as exc:
        make_member(
            home_org=village,
            birth=datetime.date(1900, 2, 1),
            joined_on=datetime.date(1921, 6, 30),
            member_type=MemberType.PROBATIONARY,
            converted_on=None,
        )
    assert exc.value.message_dict["joined_on"] == ["入党日期不能早于建党之日（1921 年 7 月 1 日）"]
    founded = make_member(
        home_org=village,
        birth=datetime.date(1900, 2, 1),
        joined_on=datetime.date(1921, 7, 1),
        member_type=MemberType.PROBATIONARY,
        converted_on=None,
    )
    assert founded.joined_on == datetime.date(1921, 7, 1)


def test_full_member_conversion_date_within_one_to_two_years(village):
    with pytest.raises(ValidationError) as exc:
        make_member(
            home_org=village,
            joined_on=datetime.date(2010, 7, 1),
            converted_on=datetime.date(2010, 12, 1),
        )
    assert "1 至 2 年" in exc.value.message_dict["converted_on"][0]
    with pytest.raises(ValidationError) as exc:
        make_member(
            home_org=village,
            joined_on=datetime.date(2010, 7, 1),
            converted_on=datetime.date(2012, 7, 2),
        )
    assert "1 至 2 年" in exc.value.message_dict["converted_on"][0]


def test_probationary_member_has_no_conversion_date(village):
    with pytest.raises(ValidationError) as exc:
        make_member(
            home_org=village,
            member_type=MemberType.PROBATIONARY,
            joined_on=datetime.date(2026, 1, 1),
            converted_on=datetime.date(2026, 6, 1),
        )
    assert "预备党员不填转正日期" in str(exc.value)


def test_phone_is_normalized(village):
    member = make_member(home_org=village, phone="+86 138-0013-8000")
    assert member.phone == "13800138000"


def test_duplicate_id_number_is_refused(village):
    number = make_id_number()
    make_member(home_org=village, id_number=number)
    with pytest.raises(ValidationError) as exc:
        make_member(home_org=village, id_number=number)
    assert exc.value.message_dict["id_number"][0].startswith("该公民身份号码已登记（党员 ")


def test_lost_contact_after_six_months(village, settings):
    member = make_member(home_org=village)
    today = timezone.localdate()
    Member.objects.filter(pk=member.pk).update(last_contact_on=today - datetime.timedelta(days=200))
    member.refresh_from_db()
    assert member.is_lost_contact
    assert list(Member.objects.lost_contact()) == [member]
    settings.LOST_CONTACT_MONTHS = 12
    assert not Member.objects.lost_contact().exists()


def test_lost_contact_counts_from_exactly_six_months(village):
    """DOMAIN.md: 失联 is no contact for ≥ 6 months; the day six months on is the first day
    lost, on the member's flag, the queryset and the list's filter (API and pages) alike."""
    from dateutil.relativedelta import relativedelta

    from members.filtersets import MemberFilterSet

    today = timezone.localdate()
    six = make_member(home_org=village, name="六个月")
    almost = make_member(home_org=village, name="差一天")
    Member.objects.filter(pk=six.pk).update(last_contact_on=today - relativedelta(months=6))
    Member.objects.filter(pk=almost.pk).update(
        last_contact_on=today - relativedelta(months=6) + datetime.timedelta(days=1)
    )
    six.refresh_from_db()
    almost.refresh_from_db()
    assert six.is_lost_contact
    assert not almost.is_lost_contact
    assert list(Member.objects.lost_contact()) == [six]
    lost = MemberFilterSet({"lost_contact": "true"}, queryset=Member.objects.all()).qs
    assert list(lost) == [six]
    kept = MemberFilterSet({"lost_contact": "false"}, queryset=Member.objects.all()).qs
    assert list(kept) == [almost]
