#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - load the settings now to report them clearly
    except ImproperlyConfigured as exc:
        # Django would swallow this and fail later with "Models aren't loaded yet".
        sys.exit(f"配置错误（请检查环境变量，见 README“Configuration”）：{exc}")

    import django

    django.setup()
    from portal.commandline import command_context

    # Changes a command makes reach the audit trail as the operating-system user's.
    with command_context(sys.argv):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
