"""Build the demo county (portal/demo.py) and print what the database now holds."""

import time

from django.core.management.base import BaseCommand, CommandError

from branches.models import Organization
from members.models import Member, Mobility
from portal import demo


class Command(BaseCommand):
    help = (
        "生成演示数据：仿照万荣县的党组织树（乡镇、村党支部、在外党组织）和流动党员名册。"
        "同一随机种子生成的数据完全相同；可重复运行，已有数据不会重复添加。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=int, default=1, help="随机种子（默认 1），决定生成哪些党员"
        )
        parser.add_argument(
            "--members",
            type=int,
            default=demo.DEFAULT_MEMBERS,
            help=f"生成的党员人数（默认 {demo.DEFAULT_MEMBERS}）",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=demo.DEFAULT_BATCH_SIZE,
            help=f"每批写入的党员人数（默认 {demo.DEFAULT_BATCH_SIZE}）",
        )

    def handle(self, *args, seed, members, batch_size, **options):
        if members < 0 or members > demo.ID_SPACE:
            raise CommandError(f"党员人数应在 0 到 {demo.ID_SPACE} 之间")
        if batch_size < 1:
            raise CommandError("每批人数至少为 1")
        started = time.monotonic()

        county = demo.build_county()
        self.stdout.write(f"党组织树已就绪（本次新建 {county.created} 个党组织）")

        def progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            self.stdout.write(f"  已生成党员 {done:,} / {total:,} 名（用时 {elapsed:.0f} 秒）")

        result = demo.build_members(
            county, seed=seed, count=members, batch_size=batch_size, progress=progress
        )
        elapsed = time.monotonic() - started

        organizations = Organization.objects.all()
        outside = organizations.exclude(location_code="").count()
        member_count = Member.objects.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"演示数据已生成（随机种子 {seed}）：\n"
                f"  党组织 {organizations.count():,} 个，其中在外党组织 {outside:,} 个\n"
                f"  党员 {member_count:,} 名（本次新增 {result.members_inserted:,} 名），"
                f"外出登记 {Mobility.objects.count():,} 条"
                f"（本次新增 {result.mobilities_inserted:,} 条）\n"
                f"  流动党员 {Member.objects.mobile().count():,} 名，"
                f"失联党员 {Member.objects.lost_contact().count():,} 名\n"
                f"  用时 {elapsed:.1f} 秒"
            )
        )
