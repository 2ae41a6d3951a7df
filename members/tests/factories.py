"""Members for tests, built through the services so every rule applies."""

import datetime
import itertools

from members import services
from members.choices import MemberType
from members.validators import id_check_char

_seq = itertools.count(1)


def make_id_number(*, birth: datetime.date = datetime.date(1985, 3, 14), male: bool = True) -> str:
    """A valid, unique 18-digit ID number for a person born on ``birth``."""
    n = next(_seq)
    seq = (n * 2 + (1 if male else 0)) % 1000
    if male and seq % 2 == 0:
        seq += 1
    if not male and seq % 2 == 1:
        seq -= 1
    # Spread across area codes so sequences never repeat within one run.
    area = 140822 + (n // 500)
    first17 = f"{area:06d}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


_phones = itertools.count(13800000000)


def make_member(*, home_org, **kw):
    birth = kw.pop("birth", datetime.date(1985, 3, 14))
    member_type = kw.pop("member_type", MemberType.FULL)
    joined = kw.pop("joined_on", datetime.date(2010, 7, 1))
    converted = kw.pop(
        "converted_on",
        joined.replace(year=joined.year + 1) if member_type == MemberType.FULL else None,
    )
    return services.member_create(
        name=kw.pop("name", "张三"),
        id_number=kw.pop("id_number", None) or make_id_number(birth=birth),
        phone=kw.pop("phone", str(next(_phones))),
        member_type=member_type,
        joined_on=joined,
        converted_on=converted,
        home_org=home_org,
        **kw,
    )
