"""Closed lists for members and mobility (DOMAIN.md, "Members", "Mobile members")."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Gender(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")


class MemberType(models.TextChoices):
    """党员类型."""

    FULL = "full", _("正式党员")
    PROBATIONARY = "probationary", _("预备党员")


class PartyStatus(models.TextChoices):
    """党籍状态."""

    NORMAL = "normal", _("正常")
    STOPPED = "stopped", _("停止党籍")
    REMOVED = "removed", _("自行脱党")
    TRANSFERRED_OUT = "transferred_out", _("已转出")


class Education(models.TextChoices):
    """学历 as the roster template lists it."""

    POSTGRADUATE = "postgraduate", _("研究生")
    BACHELOR = "bachelor", _("大学本科")
    JUNIOR_COLLEGE = "junior_college", _("大学专科")
    SECONDARY_VOCATIONAL = "secondary_vocational", _("中专")
    HIGH_SCHOOL = "high_school", _("高中")
    JUNIOR_HIGH_OR_BELOW = "junior_high_or_below", _("初中及以下")


class OutflowReason(models.TextChoices):
    """外出原因."""

    WORK = "work", _("务工")
    BUSINESS = "business", _("经商")
    STUDY = "study", _("求学")
    FAMILY = "family", _("随迁")
    OTHER = "other", _("其他")


class MobilityEnd(models.TextChoices):
    """How a mobility ended."""

    RETURNED = "returned", _("返乡")
    TRANSFERRED_OUT = "transferred_out", _("组织关系转出")


class ContactKind(models.TextChoices):
    """What counts as contact for lost-contact tracking (DOMAIN.md, "Lost contact")."""

    ATTENDANCE = "attendance", _("参加组织生活")
    TALK = "talk", _("谈心谈话")
    VISIT = "visit", _("走访")
    DUES = "dues", _("交纳党费")
    SELF_REPORT = "self_report", _("本人报告")
    REGISTRATION = "registration", _("外出登记")


# The 56 ethnic groups (民族), GB/T 3304 order.
ETHNICITIES = (
    "汉族",
    "蒙古族",
    "回族",
    "藏族",
    "维吾尔族",
    "苗族",
    "彝族",
    "壮族",
    "布依族",
    "朝鲜族",
    "满族",
    "侗族",
    "瑶族",
    "白族",
    "土家族",
    "哈尼族",
    "哈萨克族",
    "傣族",
    "黎族",
    "傈僳族",
    "佤族",
    "畲族",
    "高山族",
    "拉祜族",
    "水族",
    "东乡族",
    "纳西族",
    "景颇族",
    "柯尔克孜族",
    "土族",
    "达斡尔族",
    "仫佬族",
    "羌族",
    "布朗族",
    "撒拉族",
    "毛南族",
    "仡佬族",
    "锡伯族",
    "阿昌族",
    "普米族",
    "塔吉克族",
    "怒族",
    "乌孜别克族",
    "俄罗斯族",
    "鄂温克族",
    "德昂族",
    "保安族",
    "裕固族",
    "京族",
    "塔塔尔族",
    "独龙族",
    "鄂伦春族",
    "赫哲族",
    "门巴族",
    "珞巴族",
    "基诺族",
)
ETHNICITY_CHOICES = [(name, name) for name in ETHNICITIES]
