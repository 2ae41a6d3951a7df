"""One validation path for roster rows, the same for a ten-row file and a province's.

A row becomes either clean values ready for the database or a list of problems, each naming the
row, the column as the user headed it, the value as read and the reason in plain Chinese.

Field values are read with the portal's own rules: ``members.validators`` for ID numbers and
phones, ``portal.regions.parse_place`` for places, the models' choices and field lengths.
Rules across fields are the models' own: ``Member.clean()``, ``Mobility.clean()`` and their
check constraints. Running ``full_clean()`` on every row costs about 0.3 ms (30 s for 100,000
rows, forty times a COPY), so each row first goes through :meth:`MemberRows._rules_hold`, a
cheap restatement of those rules that only says "certainly valid"; any row it is unsure about,
and every row with a bad field, is judged by the models themselves, whose messages are the ones
reported. ``test_validation.py`` checks that the restatement never accepts a row the models
reject. Values that repeat (dates, places, organizations) are read once per file.

Organizations are loaded once (:class:`OrgDirectory`): validation runs no query per row.
"""

from __future__ import annotations

import datetime
import operator
import re
import unicodedata
from collections import defaultdict
from typing import Any, NamedTuple

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Organization
from members.choices import MemberType
from members.constants import (
    MIN_JOIN_AGE,
    PARTY_FOUNDED,
    PROBATION_MAX_YEARS,
    PROBATION_MIN_YEARS,
)
from members.models import Member, Mobility
from members.validators import ID_CHECK_CHARS, ID_WEIGHTS, normalize_id_number, normalize_phone
from portal import regions

from . import schema
from .schema import MEMBER_SCHEMA, MONTH_DATE_KEYS, ErrorCells, cell_text, display_value


class Problem(NamedTuple):
    """One problem of one row, as the error report lists it."""

    row: int
    column: str
    value: str
    reason: str


class CleanRow(NamedTuple):
    """A valid roster row, in the staging table's column order (rosters/sql.py)."""

    row_number: int
    id_number: str
    name: str
    gender: str
    ethnicity: str
    birth_date: datetime.date
    education: str
    phone: str
    member_type: str
    joined_on: datetime.date
    converted_on: datetime.date | None
    home_org_id: int
    remarks: str
    left_on: datetime.date
    reason: str
    destination_code: str
    destination_address: str
    employer: str
    inflow_org_id: int | None
    inflow_org_name: str
    certificate_no: str
    contact_person: str


# Roster column -> (model, field) whose rules and length apply.
MEMBER_FIELD_OF = {
    "name": "name",
    "gender": "gender",
    "ethnicity": "ethnicity",
    "id_number": "id_number",
    "birth_date": "birth_date",
    "education": "education",
    "phone": "phone",
    "member_type": "member_type",
    "joined_on": "joined_on",
    "converted_on": "converted_on",
    "home_org": "home_org",
    "remarks": "remarks",
}
MOBILITY_FIELD_OF = {
    "left_on": "left_on",
    "reason": "reason",
    "destination": "destination_code",
    "destination_address": "destination_address",
    "employer": "employer",
    "inflow_org": "inflow_org_name",
    "certificate_no": "certificate_no",
    "contact_person": "contact_person",
}
_KEY_OF_MEMBER_FIELD = {f: k for k, f in MEMBER_FIELD_OF.items()}
_KEY_OF_MOBILITY_FIELD = {f: k for k, f in MOBILITY_FIELD_OF.items()} | {"inflow_org": "inflow_org"}
# Free-text columns and the model field whose max_length bounds them.
_TEXT_KEYS = (
    ("remarks", Member, "remarks"),
    ("destination_address", Mobility, "destination_address"),
    ("employer", Mobility, "employer"),
    ("certificate_no", Mobility, "certificate_no"),
    ("contact_person", Mobility, "contact_person"),
)
# Check constraints, restated in Python: Django validates them with a query each, which is what
# validation must not do per row. Keyed by constraint name; test_validation.py fails when a
# model gains a constraint missing here.
MEMBER_CONSTRAINTS = {
    # The import matches stored members on the ID number's hash and refuses a number twice in
    # one file: a roster row never breaks it.
    "member_id_number_unique": None,
    "member_converted_on_matches_type": (
        "converted_on",
        lambda m: (
            not m.member_type or (m.member_type == MemberType.FULL) == (m.converted_on is not None)
        ),
    ),
    "member_converted_after_joined": (
        "converted_on",
        lambda m: m.converted_on is None or m.joined_on is None or m.converted_on > m.joined_on,
    ),
}
MOBILITY_CONSTRAINTS = {
    # A roster row is always a current mobility: these concern ended ones and one per member,
    # which the import's upsert keeps by construction.
    "mobility_one_current_per_member": None,
    "mobility_end_kind_matches_ended_on": None,
    "mobility_ended_after_left": None,
}
WHOLE_ROW = None

_ID18_RE = re.compile(r"\d{17}[\dX]", re.ASCII)
# Distinct values remembered per column; beyond this a column is read cell by cell.
_CACHE_LIMIT = 50_000
_MOBILE_RE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_EARLIEST_BIRTH = datetime.date(1900, 1, 1)
_MISSING = object()


def plus_years(day: datetime.date, years: int) -> datetime.date:
    """``day + relativedelta(years=years)``: 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _messages(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {NON_FIELD_ERRORS: error.messages}


def _name_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


class OrgDirectory:
    """Every organization, loaded once, looked up by code or exact full name.

    ``scope`` (ids), when given, limits the organizations a row may place members in: those
    the importing user is responsible for. Any organization may still be named as an inflow
    organization.
    """

    def __init__(self, queryset=None, *, scope: set[int] | None = None) -> None:
        queryset = Organization.objects.all() if queryset is None else queryset
        self.scope = scope
        self.orgs = list(queryset)
        self.by_code = {org.code: org for org in self.orgs}
        # Codes typed in the wrong case (wr0201 for WR0201), where that names one organization.
        folded: dict[str, list[Organization]] = defaultdict(list)
        for org in self.orgs:
            folded[org.code.upper()].append(org)
        self.by_folded_code = {code: orgs[0] for code, orgs in folded.items() if len(orgs) == 1}
        self.by_id = {org.pk: org for org in self.orgs}
        self.by_name: dict[str, list[Organization]] = defaultdict(list)
        for org in self.orgs:
            self.by_name[_name_key(org.name)].append(org)
        self._home_problems: dict[int, list[str]] = {}

    def find(self, value: Any) -> Organization | None:
        """The organization a cell names by code (in any case, when that is unambiguous) or
        full name; None if none does.

        Raises ValidationError when the name belongs to several organizations.
        """
        text = cell_text(value)
        org = self.by_code.get(text) or self.by_code.get(_name_key(text))
        if org is not None:
            return org
        named = self.by_name.get(_name_key(text), [])
        if not named and (org := self.by_folded_code.get(_name_key(text).upper())) is not None:
            return org
        if len(named) > 1:
            raise ValidationError(
                _("有 %(n)d 个党组织名为“%(name)s”，请改填组织编码（%(codes)s）")
                % {"n": len(named), "name": text, "codes": "、".join(o.code for o in named)}
            )
        return named[0] if named else None

    def home_problems(self, org: Organization) -> list[str]:
        """Why members may not belong to this organization (Member.clean's rule), once per org."""
        if org.pk not in self._home_problems:
            try:
                Member(home_org=org).clean()
            except ValidationError as exc:
                self._home_problems[org.pk] = _messages(exc).get("home_org", [])
            else:
                self._home_problems[org.pk] = []
        return self._home_problems[org.pk]

    def is_unique_name(self, org: Organization) -> bool:
        return len(self.by_name.get(_name_key(org.name), ())) == 1


class _Fail(Exception):
    """A field could not be read; carries its message."""


class MemberRows:
    """Validates the rows of one roster file in order (later rows are checked against earlier)."""

    def __init__(self, *, headers: dict[str, str], present: set[str], orgs: OrgDirectory):
        self.headers = headers
        self.present = present
        self.orgs = orgs
        self.today = timezone.localdate()
        self.id_today = datetime.date.today()  # what members.validators compares birth dates to
        self.first_row_of: dict[str, int] = {}
        self.model_checked = 0
        self._dates: dict[tuple[Any, bool], datetime.date | ValidationError | None] = {}
        self._choices = {
            "gender": schema.gender_values(),
            "ethnicity": schema.ethnicity_values(),
            "education": schema.education_values(),
            "member_type": schema.member_type_values(),
            "reason": schema.reason_values(),
        }
        self._places: dict[str, str | ValidationError] = {}
        self._homes: dict[str, Organization | ValidationError] = {}
        self._inflows: dict[str, tuple[int | None, str] | ValidationError] = {}
        self._births: dict[str, datetime.date | None] = {}
        self._max_length = {
            key: model._meta.get_field(f).max_length for key, model, f in _TEXT_KEYS
        }
        self._max_length["name"] = Member._meta.get_field("name").max_length
        self._max_length["inflow_org"] = Mobility._meta.get_field("inflow_org_name").max_length
        self.readers = self._readers()

    def column(self, key: str | None) -> str:
        if key is None:
            return _("整行")
        return self.headers.get(key) or MEMBER_SCHEMA.column(key).header

    # --- fields ------------------------------------------------------------------------------
    def _date(self, key: str, value: Any, *, required: bool) -> datetime.date | None:
        allow_month = key in MONTH_DATE_KEYS
        try:
            cache_key = (value, allow_month)
            result = self._dates.get(cache_key, False)
        except TypeError:  # an unhashable cell value
            result, cache_key = False, None
        if result is False:
            try:
                result = schema.parse_date(value, allow_month=allow_month)
            except ValidationError as exc:
                result = exc
            if cache_key is not None:
                self._dates[cache_key] = result
        if isinstance(result, ValidationError):
            raise _Fail(result.messages[0])
        if allow_month and result is not None and result < PARTY_FOUNDED:
            # No party date comes before the party. From a spreadsheet's number or date cell,
            # it is most often a year and month typed into it (2019.07, a number to Excel),
            # which reads as a day of 1905; text was typed as it reads.
            column = MEMBER_SCHEMA.column(key).header
            if isinstance(value, str):
                raise _Fail(
                    _("%(column)s“%(value)s”早于建党之日（1921 年 7 月 1 日）")
                    % {"column": column, "value": result.isoformat()}
                )
            raise _Fail(
                _(
                    "%(column)s“%(value)s”早于建党之日（1921 年 7 月 1 日）：填的如果是年月"
                    "（如 2019.07），Excel 会把它当成数字并显示成日期，请把该列设为文本后重新填写"
                )
                % {"column": column, "value": result.isoformat()}
            )
        if result is None and required:
            raise _Fail(_("请填写%(column)s") % {"column": MEMBER_SCHEMA.column(key).header})
        return result

    def _choice(self, key: str, value: Any) -> str:
        values = self._choices[key]
        if type(value) is str and value in values:
            return values[value]
        try:
            return schema.parse_choice(value, values, header=MEMBER_SCHEMA.column(key).header)
        except ValidationError as exc:
            raise _Fail(exc.messages[0]) from None

    def _text(self, key: str, value: Any) -> str:
        text = cell_text(value) if value is not None else ""
        limit = self._max_length[key]
        if len(text) > limit:
            raise _Fail(
                _("%(column)s最多 %(max)d 个字，这里有 %(n)d 个字")
                % {"column": MEMBER_SCHEMA.column(key).header, "max": limit, "n": len(text)}
            )
        return text

    def _birth_of(self, number: str) -> datetime.date | None:
        digits = number[6:14]
        if digits not in self._births:
            try:
                born = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            except ValueError:
                born = None
            if born is not None and not (_EARLIEST_BIRTH <= born <= self.id_today):
                born = None
            self._births[digits] = born
        return self._births[digits]

    def _id_number(self, value: Any) -> str:
        # The usual case, a clean 18-character number, without the general normalizer's
        # rereading; a float goes to normalize_id_number as a float, to be reported as damaged.
        if type(value) is str and len(value) == 18 and _ID18_RE.fullmatch(value):
            total = sum(map(operator.mul, map(int, value[:17]), ID_WEIGHTS))
            if ID_CHECK_CHARS[total % 11] == value[17] and self._birth_of(value):
                return value
        try:
            return normalize_id_number(value)
        except ValidationError as exc:
            raise _Fail(exc.messages[0]) from None

    def _phone(self, value: Any) -> str:
        if type(value) is str and len(value) == 11 and _MOBILE_RE.fullmatch(value):
            return value
        try:
            return normalize_phone(value)
        except ValidationError as exc:
            raise _Fail(exc.messages[0]) from None

    def _home_org(self, value: Any) -> Organization:
        text = cell_text(value)
        if not text:
            raise _Fail(_("请填写组织关系所在党组织（组织编码或全称）"))
        found = self._homes.get(text)
        if found is None:
            try:
                org = self.orgs.find(text)
                if org is None:
                    raise ValidationError(
                        _("系统中没有编码或全称为“%(org)s”的党组织") % {"org": text}
                    )
                problems = self.orgs.home_problems(org)
                if problems:
                    raise ValidationError(problems[0])
                if self.orgs.scope is not None and org.pk not in self.orgs.scope:
                    raise ValidationError(
                        _("“%(org)s”不在您的管辖范围内，不能把党员导入到该组织") % {"org": org.name}
                    )
                found = org
            except ValidationError as exc:
                found = exc
            self._homes[text] = found
        if isinstance(found, ValidationError):
            raise _Fail(found.messages[0])
        return found

    def _destination(self, value: Any) -> str:
        text = cell_text(value)
        if not text:
            raise _Fail(_("请填写流入地（省、市，如“陕西省西安市”）"))
        found = self._places.get(text)
        if found is None:
            try:
                code = regions.parse_place(text).code
                # Mobility.clean's rule (at least a city), asked once per place.
                try:
                    Mobility(destination_code=code).clean()
                except ValidationError as exc:
                    raise ValidationError(_messages(exc)["destination_code"][0]) from None
                found = code
            except ValidationError as exc:
                found = exc
            self._places[text] = found
        if isinstance(found, ValidationError):
            raise _Fail(found.messages[0])
        return found

    def _inflow(self, value: Any) -> tuple[int | None, str]:
        text = cell_text(value)
        if not text:
            return None, ""
        found = self._inflows.get(text)
        if found is None:
            try:
                org = self.orgs.find(text)
            except ValidationError as exc:
                found = exc
            else:
                limit = self._max_length["inflow_org"]
                problem = Mobility.inflow_org_problem(org) if org is not None else None
                if problem:
                    found = ValidationError(problem)
                elif org is not None:
                    found = (org.pk, "")
                elif len(text) > limit:
                    found = ValidationError(
                        _("流入地党组织名称最多 %(max)d 个字，这里有 %(n)d 个字")
                        % {"max": limit, "n": len(text)}
                    )
                else:
                    found = (None, text)
            self._inflows[text] = found
        if isinstance(found, ValidationError):
            raise _Fail(found.messages[0])
        return found

    # --- the row -----------------------------------------------------------------------------
    def _name(self, value: Any) -> str:
        name = "".join(cell_text(value).split())
        if not name:
            raise _Fail(_("请填写姓名"))
        limit = self._max_length["name"]
        if len(name) > limit:
            raise _Fail(
                _("姓名最多 %(max)d 个字，这里有 %(n)d 个字") % {"max": limit, "n": len(name)}
            )
        return name

    def _member_type(self, value: Any) -> str:
        member_type = self._choice("member_type", value)
        if not member_type:
            raise _Fail(_("请填写党员类型（正式党员或预备党员）"))
        return member_type

    def _readers(self) -> list[tuple[str, Any, dict | None]]:
        """(column key, function reading that column's cell, cache), in the order rows are read.

        Columns whose values repeat (names, closed lists, dates, organizations, places, most
        free text) are read once per distinct value: the cache maps a cell to its value, or to
        the _Fail it raised. Only the ID number and the phone, different on every row, are not.
        """
        readers: list[tuple[str, Any, dict | None]] = [
            ("name", self._name, {}),
            ("id_number", self._id_number, None),
            ("phone", self._phone, None),
            ("member_type", self._member_type, {}),
            ("home_org", self._home_org, {}),
            ("destination", self._destination, {}),
            ("inflow_org", self._inflow, {}),
        ]
        for key in ("gender", "ethnicity", "education", "reason"):
            readers.append((key, lambda value, key=key: self._choice(key, value), {}))
        for key in ("joined_on", "left_on"):
            readers.append((key, lambda value, key=key: self._date(key, value, required=True), {}))
        for key in ("birth_date", "converted_on"):
            readers.append((key, lambda value, key=key: self._date(key, value, required=False), {}))
        for key, _model, _field in _TEXT_KEYS:
            readers.append((key, lambda value, key=key: self._text(key, value), {}))
        return readers

    def check(self, number: int, raw: dict[str, Any]) -> tuple[CleanRow | None, list[Problem]]:
        """Clean values for a row, or the problems found in it."""
        failed: dict[str, str] = {}
        shown = raw
        if type(raw) is ErrorCells:  # error cells are read as empty, and refused below
            cell_errors = schema.cell_error_problems(raw)
            raw = {**raw, **dict.fromkeys(cell_errors)}
        else:
            cell_errors = None
        get = raw.get
        v: dict[str, Any] = {}
        for key, reader, cache in self.readers:
            cell = get(key)
            if cache is None:
                try:
                    v[key] = reader(cell)
                except _Fail as exc:
                    failed[key] = exc.args[0]
                    v[key] = None
                continue
            value = cache.get(cell, _MISSING)
            if value is _MISSING:
                try:
                    value = reader(cell)
                except _Fail as exc:
                    value = exc
                if len(cache) < _CACHE_LIMIT:
                    cache[cell] = value
            if type(value) is _Fail:
                failed[key] = value.args[0]
                v[key] = None
            else:
                v[key] = value
        id_number = v["id_number"]
        id_birth = id_gender = None
        if id_number is not None:
            first = self.first_row_of.get(id_number)
            if first is not None:
                failed["id_number"] = _("与第 %(row)d 行的公民身份号码重复") % {"row": first}
            else:
                self.first_row_of[id_number] = number
            id_birth = self._birth_of(id_number)
            id_gender = "male" if int(id_number[16]) % 2 else "female"
        gender, birth_date = v["gender"], v["birth_date"]
        if cell_errors:
            failed.update(cell_errors)
        if failed or not self._rules_hold(v, gender, birth_date, id_gender, id_birth):
            values = self._model_values(v, id_gender, id_birth)
            problems = list(failed.items()) + self._model_problems(values, failed)
            problems = [self._month_read(key, reason, raw, v) for key, reason in problems]
            if problems:
                return None, self._problems(number, shown, problems)
        inflow_id, inflow_name = v["inflow_org"]
        return (
            CleanRow(
                number,
                id_number,
                v["name"],
                gender or id_gender,
                v["ethnicity"],
                birth_date or id_birth,
                v["education"],
                v["phone"],
                v["member_type"],
                v["joined_on"],
                v["converted_on"],
                v["home_org"].pk,
                v["remarks"],
                v["left_on"],
                v["reason"],
                v["destination"],
                v["destination_address"],
                v["employer"],
                inflow_id,
                inflow_name,
                v["certificate_no"],
                v["contact_person"],
            ),
            [],
        )

    def month_read(self, key: str, reason: str, raw: dict[str, Any]) -> str:
        """``reason`` for a rule a valid row breaks against a stored member (``sql.plan``'s
        conflicts), with what :meth:`_month_read` adds when the cell holds a year and month."""
        try:
            read = self._date(key, raw.get(key), required=False)
        except _Fail:
            return reason
        return self._month_read(key, reason, raw, {key: read})[1]

    @staticmethod
    def _month_read(key: str | None, reason: str, raw: dict, v: dict) -> tuple[str | None, str]:
        """A rule broken by a date written as a year and month says it was read as the first
        of the month: the user, who wrote no day, would not see why otherwise."""
        if key in MONTH_DATE_KEYS and v.get(key) is not None and schema.is_month_only(raw[key]):
            reason += _("；“%(value)s”只写了年月，按 %(date)s 计算，请填写完整日期") % {
                "value": display_value(raw[key]),
                "date": v[key].isoformat(),
            }
        return key, reason

    @staticmethod
    def _model_values(v: dict, id_gender, id_birth) -> dict[str, Any]:
        """The row's values as model fields, for the models' own checks."""
        inflow_id, inflow_name = v["inflow_org"] or (None, "")
        return {
            "name": v["name"] or "",
            "gender": v["gender"] or id_gender or "",
            "ethnicity": v["ethnicity"] or "",
            "id_number": v["id_number"] or "",
            "birth_date": v["birth_date"] or id_birth,
            "education": v["education"] or "",
            "phone": v["phone"] or "",
            "member_type": v["member_type"] or "",
            "joined_on": v["joined_on"],
            "converted_on": v["converted_on"],
            "home_org": v["home_org"],
            "remarks": v["remarks"] or "",
            "left_on": v["left_on"],
            "reason": v["reason"] or "",
            "destination_code": v["destination"] or "",
            "destination_address": v["destination_address"] or "",
            "employer": v["employer"] or "",
            "inflow_org_id": inflow_id,
            "inflow_org_name": inflow_name,
            "certificate_no": v["certificate_no"] or "",
            "contact_person": v["contact_person"] or "",
        }

    def _rules_hold(self, v: dict, gender, birth_date, id_gender, id_birth) -> bool:
        """Whether the models' rules certainly hold (see the module docstring); False if unsure."""
        joined, converted, today = v["joined_on"], v["converted_on"], self.today
        if len(v["name"]) < 2:
            return False
        if (gender and gender != id_gender) or (birth_date and birth_date != id_birth):
            return False
        if joined is None:
            return False
        if joined > today or joined < plus_years(id_birth, MIN_JOIN_AGE):
            return False
        if v["member_type"] == MemberType.FULL:
            if converted is None or converted > today:
                return False
            if converted < plus_years(joined, PROBATION_MIN_YEARS):
                return False
            if converted > plus_years(joined, PROBATION_MAX_YEARS):
                return False
        elif converted is not None:
            return False
        return id_birth <= v["left_on"] <= today

    def _model_problems(self, values: dict, failed: dict[str, str]) -> list[tuple[str, str]]:
        """Member.full_clean() and Mobility.full_clean() on the row, without queries."""
        self.model_checked += 1
        member = Member(
            **{f: values[k] for k, f in MEMBER_FIELD_OF.items() if k != "home_org"},
            home_org=values["home_org"],
        )
        mobility = Mobility(
            member=member,  # unsaved: Mobility.clean reads its birth date, runs no query
            left_on=values["left_on"],
            reason=values["reason"],
            destination_code=values["destination_code"],
            destination_address=values["destination_address"],
            employer=values["employer"],
            # The directory's own object: Mobility.clean reads it without a query.
            inflow_org=self.orgs.by_id.get(values["inflow_org_id"]),
            inflow_org_name=values["inflow_org_name"],
            certificate_no=values["certificate_no"],
            contact_person=values["contact_person"],
        )
        problems: list[tuple[str, str]] = []
        # Foreign keys are excluded (Django checks them with a query); so are fields already
        # reported, and gender and birth date when the ID number they derive from is bad.
        skip = {MEMBER_FIELD_OF[k] for k in failed if k in MEMBER_FIELD_OF} | {"home_org"}
        if "id_number" in failed:
            skip |= {"gender", "birth_date"}
        try:
            member.full_clean(
                exclude=sorted(skip), validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            for field_name, messages in _messages(exc).items():
                key = _KEY_OF_MEMBER_FIELD.get(field_name)
                problems += [(key, m) for m in messages if key not in failed]
        for constraint in Member._meta.constraints:
            field_name, holds = MEMBER_CONSTRAINTS.get(constraint.name) or (None, None)
            key = _KEY_OF_MEMBER_FIELD.get(field_name)
            if holds and key not in failed and not holds(member):
                problems.append((key, str(constraint.violation_error_message)))
        skip = {MOBILITY_FIELD_OF[k] for k in failed if k in MOBILITY_FIELD_OF}
        try:
            mobility.full_clean(
                exclude=sorted(skip | {"member", "inflow_org"}),
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            for field_name, messages in _messages(exc).items():
                key = _KEY_OF_MOBILITY_FIELD.get(field_name)
                problems += [(key, m) for m in messages if key not in failed]
        return list(dict.fromkeys(problems))

    def _problems(
        self, number: int, raw: dict[str, Any], problems: list[tuple[str | None, str]]
    ) -> list[Problem]:
        return [
            Problem(number, self.column(key), display_value(raw.get(key)) if key else "", reason)
            for key, reason in problems
        ]
