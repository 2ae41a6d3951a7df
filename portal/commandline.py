"""Who acts on the command line, for the audit trail and access events.

A management command has no request: the changes it makes would reach the trail with no one
behind them. ``manage.py`` therefore runs every command except the servers inside
:func:`command_context`, which tags the trail with the operating-system user and the command;
commands that take ``--user`` (the roster imports, ``export_ledger``) record that account on
top. Servers are left out: each of their requests gets its own context from
``AuditContextMiddleware``, and one context around the whole process would merge them all.
"""

from __future__ import annotations

import contextlib
import getpass

from django.utils.translation import gettext as _

# Commands that serve requests (or run for a whole process) rather than act once.
SERVERS = frozenset({"runserver", "testserver", "runserver_plus", "celery"})


def os_user() -> str:
    """The operating-system user running this process ("?" when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "?"


# What a command run as an account adds to its name ("county（命令行，系统用户 root）"): the
# trail's search for the account finds those too (portal.audit).
COMMAND_MARK = "（命令行"


def command_operator(user=None) -> str:
    """Who a command's change, import or export is recorded as: the ``--user`` account with
    the operating-system user who ran it, else that user alone."""
    if user is not None:
        return _("%(user)s（命令行，系统用户 %(name)s）") % {
            "user": user.get_username(),
            "name": os_user(),
        }
    return _("命令行（系统用户 %(name)s）") % {"name": os_user()}


def command_context(argv: list[str]):
    """The trail context for ``manage.py`` with ``argv``; a no-op for servers and help."""
    command = argv[1] if len(argv) > 1 else ""
    if not command or command.startswith("-") or command in SERVERS or command == "help":
        return contextlib.nullcontext()
    import pghistory

    return pghistory.context(user=None, username=command_operator(), command=command)


def install_command_error_prefix() -> None:
    """A command's refusal reaches the operator as ``错误：…``: Django's ``run_from_argv``
    writes it after the exception's class name (``CommandError: 党组织编码 999 不存在``), English
    before the Chinese. Only a command run from the command line is changed (``call_command``
    still raises) and ``--traceback`` still shows the whole exception; system-check failures
    keep Django's own formatting."""
    import sys

    from django.core.management.base import BaseCommand, CommandError, SystemCheckError

    execute = BaseCommand.execute
    if getattr(execute, "portal_prefix", False):
        return

    def execute_with_chinese_error(self, *args, **options):
        try:
            return execute(self, *args, **options)
        except CommandError as exc:
            if (
                not getattr(self, "_called_from_command_line", False)
                or options.get("traceback")
                or isinstance(exc, SystemCheckError)
            ):
                raise
            self.stderr.write(_("错误：%(message)s") % {"message": exc})
            sys.exit(exc.returncode)

    execute_with_chinese_error.portal_prefix = True
    BaseCommand.execute = execute_with_chinese_error
