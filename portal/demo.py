"""The demo county: an organization tree and a roster of mobile members like Wanrong County's.

``python manage.py seed_demo`` calls :func:`build_county` and then :func:`build_members`; later
issues add activities, visits and care tasks as further ``build_*`` steps on the same county.

Why it is built the way it is:

- **The county is one place, the people vary.** The organization tree (万荣县, 14 townships, the
  outside organizations of the seed article, DOMAIN.md "Sizes to plan for") does not depend on
  the seed, so every demo shows the same tree; the seed only varies the members.
- **Deterministic.** Everything comes from ``random.Random`` instances seeded explicitly and dates
  are computed from the fixed :data:`ANCHOR`, never from the clock: the same seed gives the same
  rows on any day (apart from primary keys, timestamps and the ID number's ciphertext, whose
  nonce is random by design). Every date lies on or before the anchor, which is in the past, so
  no rule "not later than today" can fail.
- **Idempotent.** Organizations are looked up by ``code`` before being created; members are
  unique on their ID number (its keyed hash) and inserted with ``ON CONFLICT DO NOTHING``;
  mobilities are added only to members that have none. Running twice adds nothing; running with
  more members adds only the new ones (member *i* is the same whatever the total).
- **Valid by construction, at scale.** Organizations go through ``branches.services`` (a few
  hundred rows). Members are generated so that every row passes ``full_clean()`` (the tests check
  it) and are loaded in batches with COPY (see :class:`_Loader` for why not ``bulk_create``):
  a million members take about six minutes on two cores, in 140 MB.
"""

from __future__ import annotations

import bisect
import datetime
import io
import itertools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import connections, models, transaction
from django.utils import timezone

from branches.choices import BranchType, OrgKind
from branches.models import Organization
from branches.services import organization_change_branch_type, organization_create
from members.choices import Education, Gender, MemberType, MobilityEnd, OutflowReason, PartyStatus
from members.models import Member, Mobility
from members.validators import id_check_char
from portal import regions

# Every generated date lies on or before this day. Fixed (not "today") so that a seed gives the
# same data whenever it runs; "recent" and "six months ago" are measured from it.
ANCHOR = datetime.date(2026, 11, 1)

COUNTY_CODE = "140822"  # 万荣县, 运城市, 山西省 (GB/T 2260)
ROOT_CODE = COUNTY_CODE + "000"
MOBILE_COMMITTEE_CODE = COUNTY_CODE + "900"
OUTSIDE_GENERAL_BRANCH_CODE = MOBILE_COMMITTEE_CODE + "001"

DEFAULT_MEMBERS = 2000
DEFAULT_BATCH_SIZE = 5000
PROGRESS_EVERY = 100_000

# The tree is the same for every seed (see the module docstring): its own fixed generator.
_TREE_SEED = 140822

# ---------------------------------------------------------------------------------------------
# The organization tree

# Wanrong's 14 townships (乡镇), in the order of their codes here.
TOWNSHIPS = (
    "解店镇",
    "通化镇",
    "汉薛镇",
    "荣河镇",
    "万泉乡",
    "里望乡",
    "西村乡",
    "南张乡",
    "高村乡",
    "皇甫乡",
    "贾村乡",
    "王显乡",
    "光华乡",
    "裴庄乡",
)
# The county seat's residential communities (解店镇).
COUNTY_SEAT_COMMUNITIES = ("新华社区", "迎春社区", "后土社区")

# Two-character village names are drawn from these, unique within the county.
_VILLAGE_FIRST = "东西南北上下前后中大小新老王李张杜薛贾孙高吴范闫畅荆卫裴庙寺坡堡河泉桥"
_VILLAGE_SECOND = "庄家营堡坡头里峪沟原店城寨院渠湾坊"  # no 村: "X村村党支部"
_GROUP_ORDINALS = ("第一", "第二", "第三")


@dataclass(frozen=True)
class OutsideBranchSpec:
    """An outside branch (在外党支部) of the seed article: where it sits and how it began."""

    code_suffix: str
    name: str
    location_code: str
    branch_type: str
    established_on: datetime.date
    host_unit: str
    # How strongly members gather in its city (more to Xi'an, Taiyuan and Beijing).
    weight: float = 1.0
    # Districts of the city it hosts as 党小组.
    groups: tuple[str, ...] = ()


def _outside(
    n: int,
    city: str,
    code: str,
    kind: str,
    year: int,
    *,
    weight: float = 1.0,
    host: str = "",
    suffix: str = "",
    groups: tuple[str, ...] = (),
) -> OutsideBranchSpec:
    return OutsideBranchSpec(
        code_suffix=f"{n:03d}",
        name=f"万荣县驻{city}{suffix}党支部",
        location_code=code,
        branch_type=kind,
        established_on=datetime.date(year, 7, 1),
        host_unit=host or f"{city}万荣商会",
        weight=weight,
        groups=groups,
    )


_E, _F = BranchType.ESTABLISHED, BranchType.FUNCTIONAL

# 1 总支, 17 建制型 and 16 功能型 in 26 provinces, as the Wanrong article counts them. The Xi'an
# branch is listed as functional: build_county converts it in 2019 so the history shows it.
OUTSIDE_BRANCHES: tuple[OutsideBranchSpec, ...] = (
    _outside(
        1,
        "西安",
        "610100",
        _F,
        2017,
        weight=14,
        host="万荣县外出经商务工人员管理服务中心",
        groups=("雁塔区", "未央区", "长安区"),
    ),
    _outside(2, "北京", "110105", _E, 2002, weight=4, suffix="第一", host="北京万荣商会"),
    _outside(3, "北京", "110106", _E, 2015, weight=2, suffix="第二", host="北京万荣商会"),
    _outside(4, "北京", "110108", _E, 2015, weight=2, suffix="第三", host="北京万荣商会"),
    _outside(5, "北京", "110115", _E, 2018, weight=2, suffix="第四", host="北京万荣商会"),
    _outside(
        6,
        "太原",
        "140100",
        _E,
        2012,
        weight=12,
        host="万荣县外出经商务工人员管理服务中心",
        groups=("小店区", "万柏林区"),
    ),
    _outside(7, "郑州", "410100", _E, 2013, weight=4),
    _outside(8, "上海", "310115", _E, 2014, weight=3),
    _outside(9, "天津", "120116", _E, 2014, weight=3),
    _outside(10, "石家庄", "130100", _E, 2016, weight=2),
    _outside(11, "呼和浩特", "150100", _E, 2013, weight=3),
    _outside(12, "银川", "640100", _E, 2016, weight=2),
    _outside(13, "兰州", "620100", _E, 2016, weight=2),
    _outside(14, "广州", "440100", _E, 2017, weight=3),
    _outside(15, "深圳", "440300", _E, 2017, weight=3),
    _outside(16, "成都", "510100", _E, 2018, weight=2),
    _outside(17, "武汉", "420100", _E, 2018, weight=2),
    _outside(18, "重庆", "500112", _F, 2018, weight=2),
    _outside(19, "南京", "320100", _F, 2018),
    _outside(20, "杭州", "330100", _F, 2019),
    _outside(21, "东莞", "441900", _F, 2019, host="东莞山西商会"),
    _outside(22, "鄂尔多斯", "150600", _F, 2019, weight=2),
    _outside(23, "苏州", "320500", _F, 2019),
    _outside(24, "乌鲁木齐", "650100", _F, 2020),
    _outside(25, "哈尔滨", "230100", _F, 2020),
    _outside(26, "沈阳", "210100", _F, 2020),
    _outside(27, "济南", "370100", _F, 2020),
    _outside(28, "合肥", "340100", _F, 2021),
    _outside(29, "昆明", "530100", _F, 2021),
    _outside(30, "南宁", "450100", _F, 2021),
    _outside(31, "福州", "350100", _F, 2021),
    _outside(32, "长沙", "430100", _F, 2022),
    _outside(33, "南昌", "360100", _F, 2022),
)
# Most mobile members keep their membership in the village; an established outside branch holds
# the memberships of those settled in its city. This scales the city weights to homes.
OUTSIDE_HOME_FACTOR = 0.25
XIAN_CODE = OUTSIDE_GENERAL_BRANCH_CODE + "001"
XIAN_CONVERSION = (
    datetime.date(2019, 7, 1),
    "在西安流动党员组织关系集中转入，由功能型党支部转为建制型党支部",
)

# Cities members go to that have no branch of ours: their inflow organization is named in text.
# (city code, weight, districts to pick from; empty: the city's first districts)
OTHER_DESTINATIONS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("140800", 3, ("140802", "140881", "140882")),  # 运城市 outside Wanrong
    ("141000", 2, ()),  # 临汾
    ("140700", 1, ()),  # 晋中
    ("140200", 1, ()),  # 大同
    ("610400", 2, ()),  # 咸阳
    ("610500", 1, ()),  # 渭南
    ("410300", 1, ()),  # 洛阳
    ("150200", 1, ()),  # 包头
    ("370200", 1, ()),  # 青岛
    ("350200", 1, ()),  # 厦门
)


@dataclass(frozen=True)
class TemporaryBranchSpec:
    """A temporary branch (临时党支部) for a project or a training class."""

    parent_code: str
    code: str
    name: str
    location_code: str
    host_unit: str
    established_on: datetime.date
    planned_end_on: datetime.date


TEMPORARY_BRANCHES = (
    TemporaryBranchSpec(
        MOBILE_COMMITTEE_CODE,
        MOBILE_COMMITTEE_CODE + "002",
        "万荣县2026年流动党员骨干培训班临时党支部",
        "",
        "中共万荣县委党校",
        datetime.date(2026, 10, 20),
        datetime.date(2026, 12, 31),
    ),
    TemporaryBranchSpec(
        OUTSIDE_GENERAL_BRANCH_CODE,
        OUTSIDE_GENERAL_BRANCH_CODE + "101",
        "万荣县驻西安地铁建设项目临时党支部",
        "610116",
        "西安地铁十五号线万荣籍施工队",
        datetime.date(2025, 3, 15),
        datetime.date(2027, 6, 30),
    ),
    # Its planned end has passed: the portal's "应及时撤销" warning shows on it.
    TemporaryBranchSpec(
        OUTSIDE_GENERAL_BRANCH_CODE,
        OUTSIDE_GENERAL_BRANCH_CODE + "102",
        "万荣县驻太原高速公路项目临时党支部",
        "140100",
        "太原环城高速改扩建工程项目部",
        datetime.date(2025, 4, 1),
        datetime.date(2026, 10, 31),
    ),
)


@dataclass
class County:
    """The built tree as member generation needs it: homes with weights, branches by city."""

    root: Organization
    # Membership homes in code order, with how many members each draws relative to the others.
    homes: list[Organization] = field(default_factory=list)
    home_weights: list[float] = field(default_factory=list)
    # Outside branches (established and functional) members in a city take part in, by city code.
    branches_by_city: dict[str, list[Organization]] = field(default_factory=dict)
    created: int = 0


def _village_names(rng: random.Random, count: int, used: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(_VILLAGE_FIRST) + rng.choice(_VILLAGE_SECOND)
        if name not in used and name[0] != name[1]:
            used.add(name)
            names.append(name)
    return names


class _TreeBuilder:
    """Creates organizations through the service, skipping codes that already exist."""

    def __init__(self) -> None:
        self.existing = {
            org.code: org for org in Organization.objects.filter(code__startswith=COUNTY_CODE)
        }
        self.created = 0

    def ensure(self, *, code: str, parent: Organization | None, **fields) -> Organization:
        org = self.existing.get(code)
        if org is None:
            org = organization_create(code=code, parent=parent, **fields)
            self.existing[code] = org
            self.created += 1
        return org


def _can_be_home(org: Organization) -> bool:
    """Only these may receive members (an administrator may have changed the demo tree)."""
    return org.holds_memberships and org.dissolved_on is None


@transaction.atomic
def build_county() -> County:
    """The Wanrong tree: county committee, townships and villages, the outside organizations.

    Safe to run again: existing codes are skipped, and the Xi'an branch is converted only once.
    """
    tree = _TreeBuilder()
    rng = random.Random(_TREE_SEED)  # noqa: S311 - demo data, not secrets
    root = tree.ensure(code=ROOT_CODE, parent=None, name="中共万荣县委员会", kind=OrgKind.COMMITTEE)
    county = County(root=root)

    used_villages: set[str] = set()
    for t_index, township in enumerate(TOWNSHIPS, start=1):
        t_code = f"{COUNTY_CODE}{100 + t_index}"
        committee = tree.ensure(
            code=t_code, parent=root, name=f"中共万荣县{township}委员会", kind=OrgKind.COMMITTEE
        )
        # Branches of the township: its organ branch, villages, one joint branch of two small
        # villages in most townships, and the county seat's communities.
        units: list[tuple[str, str, float, int]] = [(f"{township}机关党支部", _E, 0.4, 0)]
        if township == "解店镇":
            units += [(f"{township}{c}党支部", _E, 1.2, 0) for c in COUNTY_SEAT_COMMUNITIES]
        villages = _village_names(rng, rng.randint(4, 7), used_villages)
        for village in villages:
            groups = rng.choice((0, 0, 2, 3))
            units.append((f"{township}{village}村党支部", _E, 1.0, groups))
        if rng.random() < 0.7:
            a, b = _village_names(rng, 2, used_villages)
            units.append((f"{township}{a}村{b}村联合党支部", BranchType.JOINT, 0.5, 0))
        for b_index, (name, branch_type, weight, groups) in enumerate(units, start=1):
            branch = tree.ensure(
                code=f"{t_code}{b_index:03d}",
                parent=committee,
                name=name,
                kind=OrgKind.BRANCH,
                branch_type=branch_type,
                has_committee=branch_type == _E and weight >= 1,
            )
            if _can_be_home(branch):
                county.homes.append(branch)
                county.home_weights.append(weight)
            stem = name.removesuffix("党支部")
            for g_index in range(groups):
                tree.ensure(
                    code=f"{branch.code}{g_index + 1:02d}",
                    parent=branch,
                    name=f"{stem}{_GROUP_ORDINALS[g_index]}党小组",
                    kind=OrgKind.GROUP,
                )

    mobile_committee = tree.ensure(
        code=MOBILE_COMMITTEE_CODE,
        parent=root,
        name="中共万荣县流动党员委员会",
        kind=OrgKind.COMMITTEE,
        established_on=datetime.date(2012, 7, 1),
    )
    general = tree.ensure(
        code=OUTSIDE_GENERAL_BRANCH_CODE,
        parent=mobile_committee,
        name="万荣县在外党总支",
        kind=OrgKind.GENERAL_BRANCH,
        host_unit="万荣县外出经商务工人员管理服务中心",
        established_on=datetime.date(2012, 7, 1),
    )
    for index, spec in enumerate(OUTSIDE_BRANCHES):
        branch = tree.ensure(
            code=OUTSIDE_GENERAL_BRANCH_CODE + spec.code_suffix,
            parent=general,
            name=spec.name,
            kind=OrgKind.BRANCH,
            branch_type=spec.branch_type,
            location_code=spec.location_code,
            host_unit=spec.host_unit,
            has_committee=spec.branch_type == _E or index % 2 == 0,
            established_on=spec.established_on,
        )
        for g_index, district in enumerate(spec.groups, start=1):
            tree.ensure(
                code=f"{branch.code}{g_index:02d}",
                parent=branch,
                name=f"{spec.name.removesuffix('党支部')}{district}党小组",
                kind=OrgKind.GROUP,
            )
    for spec in TEMPORARY_BRANCHES:
        tree.ensure(
            code=spec.code,
            parent=tree.existing[spec.parent_code],
            name=spec.name,
            kind=OrgKind.BRANCH,
            branch_type=BranchType.TEMPORARY,
            location_code=spec.location_code,
            host_unit=spec.host_unit,
            established_on=spec.established_on,
            planned_end_on=spec.planned_end_on,
        )

    xian = tree.existing[XIAN_CODE]
    if xian.branch_type == BranchType.FUNCTIONAL and not xian.type_changes.exists():
        changed_on, reason = XIAN_CONVERSION
        organization_change_branch_type(
            org=xian, to_type=BranchType.ESTABLISHED, changed_on=changed_on, reason=reason
        )
        xian.refresh_from_db()

    for spec in OUTSIDE_BRANCHES:
        branch = tree.existing[OUTSIDE_GENERAL_BRANCH_CODE + spec.code_suffix]
        if branch.code == XIAN_CODE:
            branch = xian
        city = regions.city_of(branch.location_code)
        county.branches_by_city.setdefault(city.code, []).append(branch)
        if _can_be_home(branch):
            county.homes.append(branch)
            county.home_weights.append(spec.weight * OUTSIDE_HOME_FACTOR)
    county.created = tree.created
    return county


# ---------------------------------------------------------------------------------------------
# Members

# Birth dates and ID sequence numbers. Member i gets the (day, slot) pair numbered perm(i), where
# perm is a seeded bijection of [0, ID_SPACE): two members can never share an ID number, with no
# set of used numbers to keep, at any roster size up to ID_SPACE.
BIRTH_FIRST = datetime.date(1950, 1, 1).toordinal()
BIRTH_LAST = datetime.date(2004, 12, 31).toordinal()
ID_SLOTS = 499  # slot k gives sequence 2k+1 (male) or 2k+2 (female): 001-998
ID_SPACE = (BIRTH_LAST - BIRTH_FIRST + 1) * ID_SLOTS
PHONE_SPACE = 10**8  # the eight digits after a mobile prefix, likewise a seeded bijection


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Wanrong and its neighbours in 运城市: where members' ID numbers were issued.
ID_AREAS = (("140822", 85), ("140821", 4), ("140882", 3), ("140824", 3), ("140823", 3),
            ("140802", 2))  # fmt: skip
MOBILE_PREFIXES = _words(
    "130 131 132 133 135 136 137 138 139 150 151 152 155 156 157 158 159 166 "
    "173 177 180 181 182 183 185 186 187 188 189 191 198 199"
)

SURNAMES = (
    ("王", 9), ("李", 8), ("张", 7), ("刘", 5), ("杨", 4), ("赵", 3), ("陈", 3), ("郭", 3),
    ("贾", 3), ("薛", 3), ("梁", 2), ("孙", 2), ("高", 2), ("吴", 2), ("周", 2), ("黄", 1),
    ("任", 2), ("畅", 2), ("荆", 1), ("卫", 1), ("解", 1), ("闫", 2), ("马", 2), ("冯", 1),
    ("宋", 1), ("董", 1), ("韩", 1), ("徐", 1), ("姚", 1), ("柴", 1), ("史", 1), ("段", 1),
    ("侯", 1), ("范", 1), ("乔", 1), ("裴", 1), ("毛", 1), ("杜", 1), ("许", 1), ("谢", 1),
)  # fmt: skip
MALE_CHARS = "建国军明伟强刚勇平斌海涛鹏辉波峰磊超杰亮俊志文武卫东兵林飞宏晓永新安春生福贵荣华锡登"
FEMALE_CHARS = "丽娟敏静霞芳燕红艳玲梅琴英兰秀萍慧婷娜雪晶颖洁娥莉瑞彩凤月云"
ETHNICITIES = (("汉族", 990), ("回族", 5), ("满族", 3), ("蒙古族", 2))
# Education by birth cohort: older rural members went to school less.
EDUCATION_BY_COHORT = (
    (1970, ((Education.JUNIOR_HIGH_OR_BELOW, 45), (Education.HIGH_SCHOOL, 30),
            (Education.SECONDARY_VOCATIONAL, 12), (Education.JUNIOR_COLLEGE, 9),
            (Education.BACHELOR, 4))),
    (1985, ((Education.JUNIOR_HIGH_OR_BELOW, 25), (Education.HIGH_SCHOOL, 28),
            (Education.SECONDARY_VOCATIONAL, 14), (Education.JUNIOR_COLLEGE, 18),
            (Education.BACHELOR, 14), (Education.POSTGRADUATE, 1))),
    (9999, ((Education.JUNIOR_HIGH_OR_BELOW, 8), (Education.HIGH_SCHOOL, 15),
            (Education.SECONDARY_VOCATIONAL, 12), (Education.JUNIOR_COLLEGE, 30),
            (Education.BACHELOR, 31), (Education.POSTGRADUATE, 4))),
)  # fmt: skip
REASONS = ((OutflowReason.WORK, 65), (OutflowReason.BUSINESS, 20), (OutflowReason.STUDY, 4),
           (OutflowReason.FAMILY, 8), (OutflowReason.OTHER, 3))  # fmt: skip
ROADS = _words(
    "建设路 解放路 人民路 长安路 朝阳路 中山路 和平路 新华路 友谊路 文化路 胜利路 光明路 幸福路 "
    "振兴路 南大街 北大街 东关街 西关街 迎宾大道 科技路"
)
STREETS = _words("城关 新城 东关 西关 南关 北关 胜利 和平 新华 长安 开发区 工业园")
BRANDS = _words("宏达 华信 金鼎 恒泰 鑫源 永兴 晋商 荣昌 盛世 中联 万通 汇丰 瑞丰 新天地 三晋")
INDUSTRIES = _words(
    "建筑工程 物流 餐饮管理 装饰工程 机械制造 电子科技 商贸 物业管理 汽车服务 食品 建材 运输"
)
SHOPS = _words("饭店 建材店 汽修厂 果品店 面馆 超市 五金店 装修队 运输队 烟酒店")
SCHOOLS = _words("职业技术学院 理工大学 师范大学 科技大学 财经学院")

# Shares of the generated roster (DOMAIN.md: most members are away; a few are lost).
# Probationary members are mostly young: (born before, share); about 10% overall.
PROBATIONARY_SHARE_BY_COHORT = ((1985, 0.03), (9999, 0.25))
EXTENDED_PROBATION_SHARE = 0.12
STAYS_HOME_SHARE = 0.12  # of members homed in a village branch
RETURNED_BEFORE_SHARE = 0.12  # mobile members with an earlier, ended mobility
RETURNED_SHARE = 0.5  # members at home who were away once
TRANSFERRED_SHARE = 0.015
STOPPED_SHARE = 0.006
LOST_SHARE = 0.07
CERTIFICATE_SHARE = 0.6
MALE_SHARE = 0.72

JOIN_EARLIEST = datetime.date(1972, 1, 1).toordinal()


class _Weighted:
    """A fixed weighted choice, one ``random()`` and a bisect per draw (fast at a million rows)."""

    def __init__(self, pairs: Sequence[tuple[object, float]]) -> None:
        self.values = [value for value, _weight in pairs]
        self.cumulative = list(itertools.accumulate(weight for _value, weight in pairs))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random):
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


@dataclass(frozen=True)
class _AffinePermutation:
    """x -> (a*x + b) mod n with gcd(a, n) = 1: a seeded bijection of [0, n), computed lazily."""

    a: int
    b: int
    n: int

    @classmethod
    def seeded(cls, rng: random.Random, n: int) -> _AffinePermutation:
        while True:
            a = rng.randrange(n // 3, n)
            if math.gcd(a, n) == 1:
                return cls(a=a, b=rng.randrange(n), n=n)

    def __call__(self, x: int) -> int:
        return (self.a * x + self.b) % self.n


@dataclass(frozen=True)
class _Destination:
    """A city members go to: its districts, and our branches there (if any)."""

    city_name: str
    short_name: str
    districts: tuple[tuple[str, str], ...]  # (code, name)
    branches: tuple[tuple[int, str], ...]  # (pk, location code) of our branches there

    def inflow_branch(self, district_code: str, rng: random.Random) -> int | None:
        """The branch in the member's district (Beijing has four), else one of the city's."""
        if not self.branches:
            return None
        for pk, location in self.branches:
            if location == district_code:
                return pk
        return self.branches[int(rng.random() * len(self.branches))][0]


def _destination(city_code: str, branches: Sequence[Organization], districts=()) -> _Destination:
    city = regions.get_region(city_code)
    if not districts:
        districts = [r.code for r in regions.children(city_code) if not r.is_functional_zone][
            :8
        ] or [city_code]  # 东莞市 has no districts
    named = tuple((code, regions.get_region(code).name) for code in districts)
    short = city.name.removesuffix("市")
    return _Destination(city.name, short, named, tuple((b.pk, b.location_code) for b in branches))


@dataclass
class _Plan:
    """Everything the member generator draws from, fixed before the first member."""

    homes: _Weighted  # of (pk, destination for an outside home else None)
    destinations: _Weighted


def _plan(county: County) -> _Plan:
    weight_by_city: dict[str, float] = {}
    for spec in OUTSIDE_BRANCHES:
        city = regions.city_of(spec.location_code).code
        weight_by_city[city] = weight_by_city.get(city, 0) + spec.weight
    destinations: list[tuple[_Destination, float]] = []
    by_city: dict[str, _Destination] = {}
    for city_code, branches in county.branches_by_city.items():
        by_city[city_code] = _destination(city_code, branches)
        destinations.append((by_city[city_code], weight_by_city[city_code]))
    for city_code, weight, districts in OTHER_DESTINATIONS:
        destinations.append((_destination(city_code, (), districts), weight))
    homes = [
        ((home.pk, by_city[regions.city_of(home.location_code).code]), weight)
        if home.location_code
        else ((home.pk, None), weight)
        for home, weight in zip(county.homes, county.home_weights, strict=True)
    ]
    return _Plan(homes=_Weighted(homes), destinations=_Weighted(destinations))


def _next_year(ordinal: int) -> int:
    """The same day a year later (29 February: 1 March), as an ordinal."""
    day = datetime.date.fromordinal(ordinal)
    try:
        return day.replace(year=day.year + 1).toordinal()
    except ValueError:
        return datetime.date(day.year + 1, 3, 1).toordinal()


def _eighteenth_birthday(birth: datetime.date) -> int:
    try:
        return birth.replace(year=birth.year + 18).toordinal()
    except ValueError:
        return datetime.date(birth.year + 18, 3, 1).toordinal()


# Plain strings for the choices: enum attribute access is measurable at a million rows.
_MALE, _FEMALE = Gender.MALE.value, Gender.FEMALE.value
_FULL, _PROBATIONARY = MemberType.FULL.value, MemberType.PROBATIONARY.value
_NORMAL, _STOPPED = PartyStatus.NORMAL.value, PartyStatus.STOPPED.value
_TRANSFERRED = PartyStatus.TRANSFERRED_OUT.value
_RETURNED, _END_TRANSFERRED = MobilityEnd.RETURNED.value, MobilityEnd.TRANSFERRED_OUT.value
_WORK, _BUSINESS, _STUDY = (
    OutflowReason.WORK.value,
    OutflowReason.BUSINESS.value,
    OutflowReason.STUDY.value,
)


class _MemberGenerator:
    """Yields (member fields, [mobility fields]) for member 0, 1, 2 … of a seed.

    One ``random.Random(seed)`` stream, consumed in member order, and nothing read from the
    database: member i depends only on the seed and i, never on the roster size or on what an
    earlier run inserted. Keys are the models' attribute names (``home_org_id``).
    """

    def __init__(self, seed: int, plan: _Plan) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.plan = plan
        self.ids = _AffinePermutation.seeded(self.rng, ID_SPACE)
        self.phones = _AffinePermutation.seeded(self.rng, PHONE_SPACE)
        self.areas = _Weighted(ID_AREAS)
        self.surnames = _Weighted(SURNAMES)
        self.ethnicities = _Weighted(ETHNICITIES)
        self.education = [
            (year, _Weighted([(e.value, w) for e, w in pairs]))
            for year, pairs in EDUCATION_BY_COHORT
        ]
        self.reasons = _Weighted([(r.value, w) for r, w in REASONS])
        self.anchor = ANCHOR.toordinal()
        self.next_index = 0

    def __iter__(self) -> Iterator[tuple[dict, list[dict]]]:
        return self

    def __next__(self) -> tuple[dict, list[dict]]:
        # An iterator, not an iterable: every islice continues where the last one stopped (a
        # fresh generator per islice would restart the index but not the random stream).
        record = self.member(self.next_index)
        self.next_index += 1
        return record

    # --- small draws ------------------------------------------------------------------------
    def _between(self, low: int, high: int) -> int:
        return low + int(self.rng.random() * (high - low + 1))

    def _pick(self, seq: Sequence[str]) -> str:
        return seq[int(self.rng.random() * len(seq))]

    def _name(self, male: bool) -> str:
        random_ = self.rng.random
        chars = MALE_CHARS if male else FEMALE_CHARS
        given = chars[int(random_() * len(chars))]
        if random_() < 0.75:
            given += chars[int(random_() * len(chars))]
        return self.surnames.pick(self.rng) + given

    def _random_phone(self) -> str:
        return f"{self._pick(MOBILE_PREFIXES)}{int(self.rng.random() * PHONE_SPACE):08d}"

    # --- one member -------------------------------------------------------------------------
    def member(self, index: int) -> tuple[dict, list[dict]]:
        rng, anchor = self.rng, self.anchor
        day, slot = divmod(self.ids(index), ID_SLOTS)
        birth = datetime.date.fromordinal(BIRTH_FIRST + day)
        male = rng.random() < MALE_SHARE
        first17 = (
            f"{self.areas.pick(rng)}{birth.year:04d}{birth.month:02d}{birth.day:02d}"
            f"{2 * slot + (1 if male else 2):03d}"
        )
        phone = f"{self._pick(MOBILE_PREFIXES)}{self.phones(index):08d}"
        education = next(w for year, w in self.education if birth.year < year).pick(rng)

        # Joining at 18 or later; full members converted one year later (some after an
        # extension of up to six months), all of it before the anchor.
        adult = _eighteenth_birthday(birth)
        probationary_share = next(
            p for year, p in PROBATIONARY_SHARE_BY_COHORT if birth.year < year
        )
        if rng.random() < probationary_share:
            member_type = _PROBATIONARY
            joined = anchor - self._between(90, 360)
            converted = None
        else:
            member_type = _FULL
            low, high = max(adult, JOIN_EARLIEST), anchor - 560
            joined = low + int((high - low) * rng.random() ** 1.4)
            if rng.random() < EXTENDED_PROBATION_SHARE:
                converted = joined + self._between(366, 548)
            else:
                converted = _next_year(joined)

        home_pk, outside_home = self.plan.homes.pick(rng)
        member = {
            "name": self._name(male),
            "gender": _MALE if male else _FEMALE,
            "ethnicity": self.ethnicities.pick(rng),
            "id_number": first17 + id_check_char(first17),
            "birth_date": birth,
            "education": education,
            "phone": phone,
            "member_type": member_type,
            "joined_on": datetime.date.fromordinal(joined),
            "converted_on": datetime.date.fromordinal(converted) if converted else None,
            "home_org_id": home_pk,
            "party_status": _NORMAL,
            "last_contact_on": None,
            "transferred_out_on": None,
            "transferred_to": "",
        }

        # Away since after joining (registration happens in the home branch), at most 12 years.
        earliest_leave = max(joined + 30, anchor - 12 * 365)
        mobilities: list[dict] = []
        last_contact = anchor - self._between(0, 150)
        if outside_home is None and rng.random() < STAYS_HOME_SHARE:
            # At home; half of them were away once and came back.
            if rng.random() < RETURNED_SHARE and earliest_leave <= anchor - 300:
                left = self._between(earliest_leave, anchor - 300)
                ended = self._between(left + 180, min(left + 2000, anchor - 30))
                mobilities.append(self._mobility(left, ended, _RETURNED, index))
                last_contact = max(last_contact, ended)
            member["last_contact_on"] = datetime.date.fromordinal(last_contact)
            return member, mobilities

        high = anchor - 60
        left = high - int((high - earliest_leave) * rng.random() ** 1.3)
        if rng.random() < RETURNED_BEFORE_SHARE and left - 400 >= earliest_leave:
            p_left = self._between(earliest_leave, left - 400)
            p_end = self._between(p_left + 180, min(p_left + 900, left - 30))
            mobilities.append(self._mobility(p_left, p_end, _RETURNED, index))
        if outside_home is None:
            current = self._mobility(left, None, "", index)
        else:
            # Homed in an outside branch: away in its city, taking part in its life.
            current = self._mobility(left, None, "", index, outside_home, home_pk)
        mobilities.append(current)

        draw = rng.random()
        if draw < TRANSFERRED_SHARE and left <= anchor - 400:
            # Settled at the destination: the membership moved there ("应转尽转").
            out = datetime.date.fromordinal(self._between(left + 365, anchor - 10))
            current["ended_on"] = out
            current["end_kind"] = _END_TRANSFERRED
            member["party_status"] = _TRANSFERRED
            member["transferred_out_on"] = out
            member["transferred_to"] = (
                f"中共{regions.full_name(current['destination_code'])}"
                f"{self._pick(STREETS)}街道工作委员会"
            )
            last_contact = out.toordinal()
        elif draw < TRANSFERRED_SHARE + STOPPED_SHARE and left <= anchor - 400:
            # Lost for over a year and not found by the search: 停止党籍.
            member["party_status"] = _STOPPED
            last_contact = self._between(left, anchor - 365)
        elif draw < TRANSFERRED_SHARE + STOPPED_SHARE + LOST_SHARE and left <= anchor - 200:
            last_contact = self._between(left, anchor - 190)  # 失联: no contact for 6+ months
        else:
            last_contact = max(last_contact, left)  # the registration itself is a contact
        member["last_contact_on"] = datetime.date.fromordinal(last_contact)
        return member, mobilities

    def _mobility(
        self,
        left: int,
        ended: int | None,
        end_kind: str,
        index: int,
        destination: _Destination | None = None,
        inflow_pk: int | None = None,
    ) -> dict:
        """One registration; ``destination`` and ``inflow_pk`` are given for an outside home."""
        rng = self.rng
        if destination is None:
            destination = self.plan.destinations.pick(rng)
            reason = self.reasons.pick(rng)
        else:
            reason = _WORK if rng.random() < 0.7 else _BUSINESS
        district_code, district_name = destination.districts[
            int(rng.random() * len(destination.districts))
        ]
        if reason == _WORK:
            employer = (
                f"{destination.short_name}{self._pick(BRANDS)}{self._pick(INDUSTRIES)}有限公司"
            )
        elif reason == _BUSINESS:
            employer = f"{destination.short_name}万荣{self._pick(SHOPS)}（个体经营）"
        elif reason == _STUDY:
            employer = f"{destination.short_name}{self._pick(SCHOOLS)}"
        else:
            employer = ""
        inflow_pk = inflow_pk or destination.inflow_branch(district_code, rng)
        if inflow_pk is not None:
            inflow_name = ""
        elif rng.random() < 0.75:
            inflow_name = f"{destination.city_name}{district_name}{self._pick(STREETS)}街道党工委"
        else:
            inflow_name = ""  # not yet attached to a party organization there
        left_day = datetime.date.fromordinal(left)
        certificate = (
            f"晋万流{left_day.year}{index + 1:07d}"
            if ended is None and rng.random() < CERTIFICATE_SHARE
            else ""
        )
        return {
            "left_on": left_day,
            "reason": reason,
            "destination_code": district_code,
            "destination_address": f"{district_name}{self._pick(ROADS)}{self._between(1, 399)}号",
            "employer": employer,
            "inflow_org_id": inflow_pk,
            "inflow_org_name": inflow_name,
            "certificate_no": certificate,
            "contact_person": f"{self._name(rng.random() < 0.5)} {self._random_phone()}",
            "ended_on": datetime.date.fromordinal(ended) if ended else None,
            "end_kind": end_kind,
        }


# ---------------------------------------------------------------------------------------------
# Loading: COPY into staging tables, then one INSERT … SELECT per table and batch

# Members are matched to their mobilities, and to rows of earlier runs, by this unique column
# (the ID number itself is encrypted with a random nonce, so equal numbers differ in the table).
MEMBER_KEY = "id_number_hash"
_MEMBER_STAGE = "demo_member_stage"
_MOBILITY_STAGE = "demo_mobility_stage"
# COPY text format: backslash escapes for the characters that delimit rows and columns.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Field classes (exactly these, not subclasses) whose Python values COPY takes as they are: str(),
# dates in ISO form. Any other class (the encrypted ID number, a TextField subclass) goes through
# the field's get_db_prep_save, as bulk_create would.
_PLAIN_FIELDS = frozenset({
    models.CharField, models.TextField, models.DateField, models.BooleanField,
    models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
    models.PositiveIntegerField, models.PositiveSmallIntegerField, models.ForeignKey,
})  # fmt: skip
_MISSING = object()


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _derive_member_fields(row: dict) -> dict:
    """Fill in what Member.save() derives (the ID number's keyed hash and tail): COPY skips save."""
    view = SimpleNamespace(**row)
    Member.set_lookup_fields(view)
    return vars(view)


class _CopyColumns:
    """Turns generated rows (dicts keyed by attribute name) into COPY lines for one model.

    Every concrete column but the primary key and ``skip`` is written: generated values first,
    else the field's default, timestamps the batch's time. So a field added to the model later
    with a default needs no change here, and one without a default fails loudly.
    """

    def __init__(self, model, connection, *, skip: Sequence[str] = ()) -> None:
        self.connection = connection
        self.fields = [
            f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in skip
        ]
        self.columns = [connection.ops.quote_name(f.column) for f in self.fields]

    def lines(self, rows: Iterator[tuple[list[str], dict]], now: datetime.datetime) -> str:
        """``rows`` yields (leading values, row); returns the COPY text."""
        plan = []
        for f in self.fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                plan.append((f.attname, None, _copy_text(now), None))
            else:
                default = f.get_default() if not callable(f.default) else _MISSING
                convert = None if type(f) in _PLAIN_FIELDS else f
                plan.append((f.attname, f, default, convert))
        out = []
        connection = self.connection
        for leading, row in rows:
            values = list(leading)
            for attname, model_field, default, convert in plan:
                if model_field is None:  # a timestamp, already text
                    values.append(default)
                    continue
                value = row.get(attname, default)
                if value is _MISSING:
                    value = model_field.get_default()
                if convert is not None:
                    value = convert.get_db_prep_save(value, connection)
                values.append(_copy_text(value))
            out.append("\t".join(values))
        out.append("")
        return "\n".join(out)


class _Loader:
    """Writes generated batches with COPY, which is what makes a million members take minutes.

    ``bulk_create`` spent most of its time building Model instances and a 100,000-parameter
    INSERT per batch in Python (11.5 minutes for a million members). Here a batch is COPY'd into
    two temporary staging tables and moved with one INSERT … SELECT each: members ``ON CONFLICT
    DO NOTHING`` (their ID number is unique), mobilities only for members that have none yet
    (the NOT EXISTS sees the table as it was before the statement), so re-running adds nothing.
    """

    def __init__(self, connection) -> None:
        self.connection = connection
        q = connection.ops.quote_name
        member, mobility = q(Member._meta.db_table), q(Mobility._meta.db_table)
        self.members = _CopyColumns(Member, connection)
        self.mobilities = _CopyColumns(Mobility, connection, skip=("member_id",))
        pk = q(Member._meta.pk.column)
        fk = q(Mobility._meta.get_field("member").column)
        key = q(Member._meta.get_field(MEMBER_KEY).column)
        member_cols = ", ".join(self.members.columns)
        mobility_cols = ", ".join(self.mobilities.columns)
        stage_mobility_cols = ", ".join(f"s.{c}" for c in self.mobilities.columns)

        self.drop_sql = f"DROP TABLE IF EXISTS {_MEMBER_STAGE}, {_MOBILITY_STAGE}"
        self.create_sql = (
            f"CREATE TEMPORARY TABLE {_MEMBER_STAGE} AS SELECT 0 AS seq, {member_cols} "
            f"FROM {member} WITH NO DATA",
            f"CREATE TEMPORARY TABLE {_MOBILITY_STAGE} AS SELECT 0 AS seq, m.{key} AS member_key, "
            + ", ".join(f"x.{c}" for c in self.mobilities.columns)
            + f" FROM {mobility} x, {member} m WITH NO DATA",
        )
        self.copy_member_sql = f"COPY {_MEMBER_STAGE} (seq, {member_cols}) FROM STDIN"
        self.copy_mobility_sql = (
            f"COPY {_MOBILITY_STAGE} (seq, member_key, {mobility_cols}) FROM STDIN"
        )
        self.insert_member_sql = (
            f"INSERT INTO {member} ({member_cols}) SELECT {member_cols} FROM {_MEMBER_STAGE} "
            f"ORDER BY seq ON CONFLICT DO NOTHING"
        )
        self.insert_mobility_sql = (
            f"INSERT INTO {mobility} ({fk}, {mobility_cols}) "
            f"SELECT m.{pk}, {stage_mobility_cols} "
            f"FROM {_MOBILITY_STAGE} s JOIN {member} m ON m.{key} = s.member_key "
            f"WHERE NOT EXISTS (SELECT 1 FROM {mobility} x WHERE x.{fk} = m.{pk}) "
            f"ORDER BY s.seq"
        )
        # A member that is neither inserted nor already there means a unique column other than
        # the key conflicted: fail rather than lose rows silently.
        self.missing_sql = (
            f"SELECT count(*) FROM {_MEMBER_STAGE} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {member} m WHERE m.{key} = s.{key})"
        )

    def __enter__(self) -> _Loader:
        with self.connection.cursor() as cursor:
            cursor.execute(self.drop_sql)
            for sql in self.create_sql:
                cursor.execute(sql)
        return self

    def __exit__(self, *exc) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(self.drop_sql)

    def prepare(self, records: list[tuple[dict, list[dict]]], first_index: int) -> tuple[str, str]:
        """The COPY texts of a batch (pure Python: may run while the database works)."""
        now = timezone.now()
        members = [_derive_member_fields(member) for member, _mobilities in records]
        member_text = self.members.lines(
            (([str(seq)], member) for seq, member in enumerate(members, start=first_index)), now
        )
        keyed = (
            (member[MEMBER_KEY], mobility)
            for member, (_member, mobilities) in zip(members, records, strict=True)
            for mobility in mobilities
        )
        mobility_text = self.mobilities.lines(
            (([str(seq), key], mobility) for seq, (key, mobility) in enumerate(keyed)), now
        )
        return member_text, mobility_text

    @staticmethod
    def _copy(cursor, sql: str, text: str) -> None:
        raw = cursor.cursor  # the driver's cursor: COPY is not part of the DB-API
        if hasattr(raw, "copy_expert"):  # psycopg2
            raw.copy_expert(sql, io.StringIO(text))
        else:  # psycopg 3
            with raw.copy(sql) as copy:
                copy.write(text)

    def load(self, texts: tuple[str, str]) -> tuple[int, int]:
        """Insert one prepared batch; returns (members inserted, mobilities inserted)."""
        member_text, mobility_text = texts
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {_MEMBER_STAGE}, {_MOBILITY_STAGE}")
            # A batch is a few thousand rows against tables of up to millions: index lookups
            # are right, but with no statistics on the staging tables the planner may sort or
            # hash the whole member or mobility table instead (0.1 s vs 0.7 s per batch at 1M).
            cursor.execute("SET LOCAL enable_mergejoin = off; SET LOCAL enable_hashjoin = off")
            self._copy(cursor, self.copy_member_sql, member_text)
            self._copy(cursor, self.copy_mobility_sql, mobility_text)
            cursor.execute(self.insert_member_sql)
            members_inserted = cursor.rowcount
            cursor.execute(self.insert_mobility_sql)
            mobilities_inserted = cursor.rowcount
            cursor.execute(self.missing_sql)
            (missing,) = cursor.fetchone()
            # SET LOCAL lasts until the outer transaction ends (in tests: the whole test).
            cursor.execute("RESET enable_mergejoin; RESET enable_hashjoin")
            if missing:
                raise RuntimeError(
                    f"{missing} generated members were neither inserted nor found by "
                    f"{MEMBER_KEY}: another unique column conflicts"
                )
        return members_inserted, mobilities_inserted


@dataclass
class MembersResult:
    generated: int = 0
    members_inserted: int = 0
    mobilities_inserted: int = 0


def build_members(
    county: County,
    *,
    seed: int,
    count: int = DEFAULT_MEMBERS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> MembersResult:
    """Generate ``count`` members of ``seed`` into the county's branches, batch by batch.

    Each batch is generated lazily, written in one transaction and dropped, so memory stays flat
    at any roster size. While the database inserts one batch, a worker thread generates the next
    (the driver releases the GIL while it waits), so the two cores both work.
    ``progress(done, count)`` is called every PROGRESS_EVERY members.
    """
    if count > ID_SPACE:
        raise ValueError(f"at most {ID_SPACE} members per seed")
    generator = _MemberGenerator(seed, _plan(county))
    result = MembersResult()
    starts = range(0, count, batch_size)

    with _Loader(connections[Member.objects.db]) as loader:

        def prepare(start: int) -> tuple[str, str]:
            size = min(batch_size, count - start)
            return loader.prepare(list(itertools.islice(generator, size)), start)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed_demo") as worker:
            # Batches are prepared strictly in order (one worker), one batch ahead of the loader.
            pending = worker.submit(prepare, starts[0]) if starts else None
            for index, start in enumerate(starts):
                texts = pending.result()
                pending = (
                    worker.submit(prepare, starts[index + 1]) if index + 1 < len(starts) else None
                )
                members, mobilities = loader.load(texts)
                result.members_inserted += members
                result.mobilities_inserted += mobilities
                previous = result.generated
                result.generated = min(start + batch_size, count)
                if progress and result.generated // PROGRESS_EVERY > previous // PROGRESS_EVERY:
                    progress(result.generated, count)
    return result
