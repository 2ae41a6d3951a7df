"""Closed lists shared across apps: roles and access events."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """What a user does, held on an organization (DOMAIN.md, "Users")."""

    COUNTY_ADMIN = "county_admin", _("县委组织部管理员")
    COMMITTEE_STAFF = "committee_staff", _("党（工）委工作人员")
    BRANCH_SECRETARY = "branch_secretary", _("党支部书记")
    AUDITOR = "auditor", _("审计员")
    SYSTEM_ADMIN = "system_admin", _("系统管理员")
    SECURITY_ADMIN = "security_admin", _("安全管理员")
    API_CLIENT = "api_client", _("接口服务账号")


# 三权分立 (等保 2.0): system administration, security administration and audit are separate
# duties; one user holds at most one of them.
DUTY_ROLES = (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR)
# Roles counted as administrators (a second factor can be required of them): the three duty
# administrators of 等保 2.0 (system, security, audit) and the county organization department.
ADMIN_ROLES = (*DUTY_ROLES, Role.COUNTY_ADMIN)


# Roles that see members and organizations (the auditor sees the audit trail only).
DATA_ROLES = (Role.COUNTY_ADMIN, Role.COMMITTEE_STAFF, Role.BRANCH_SECRETARY, Role.API_CLIENT)
# Roles that may write (register outflows, returns, transfers) within their scope.
WRITE_ROLES = (Role.COUNTY_ADMIN, Role.COMMITTEE_STAFF, Role.BRANCH_SECRETARY)
# Roles that may reveal a masked ID number or phone (each reveal is recorded).
REVEAL_ROLES = (Role.COUNTY_ADMIN, Role.COMMITTEE_STAFF, Role.BRANCH_SECRETARY)
# Roles that may import rosters and export ledgers.
LEDGER_ROLES = (Role.COUNTY_ADMIN, Role.COMMITTEE_STAFF)


class AccessEventKind(models.TextChoices):
    """Access events kept beside the change trail."""

    REVEAL = "reveal", _("查看敏感信息")
    EXPORT = "export", _("导出")
    LOGIN = "login", _("登录")
    LOGIN_FAILED = "login_failed", _("登录失败")
    LOGOUT = "logout", _("退出")
    SESSION_EXPIRED = "session_expired", _("会话超时")
    TOKEN_USE = "token_use", _("接口令牌使用")
    TOKEN_REFUSED = "token_refused", _("令牌被拒")
    OTP_FAILED = "otp_failed", _("动态口令错误")


class TokenRefusal(models.TextChoices):
    """Why a token was refused: a refused-token event's ``reason``, and the 401's message."""

    MALFORMED = "malformed", _("令牌格式错误")
    UNKNOWN = "unknown", _("令牌无效")
    REVOKED = "revoked", _("令牌已吊销")
    EXPIRED = "expired", _("令牌已过期")
    INACTIVE = "inactive", _("服务账号已停用")
