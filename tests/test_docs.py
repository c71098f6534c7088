"""The docs say what the code does: README's flags table is TrainConfig's fields, every relative link resolves."""
import dataclasses
import glob
import os
import re

import pytest

from trpo.config import PRESET_FIELDS, TrainConfig
from trpo.presets import SLIDES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CONTRIBUTING.md"),
        *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))),
        *sorted(glob.glob(os.path.join(ROOT, "results", "**", "*.md"), recursive=True))]


def flags_table():
    """{flag: default cell} of the table under README's '## train.py flags' heading."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("## train.py flags", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`--(\w+)`", cells[0]) if len(cells) >= 3 else None
        if match:
            rows[match.group(1)] = cells[1]
    return rows


def test_the_readme_flags_table_lists_every_option_with_its_default():
    rows = flags_table()
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert list(rows) == list(fields)  # every option, in TrainConfig's order, and nothing else
    for name, default in fields.items():
        cell = rows[name]
        if name in PRESET_FIELDS:
            assert cell.startswith("preset"), (name, cell)
            if name in SLIDES:  # the slides preset's value, as the table shows it
                shown = re.match(r"preset: (?:`([^`]+)`|(on|off))", cell)
                assert shown, (name, cell)
                value = SLIDES[name]
                if isinstance(value, bool):
                    assert shown.group(2) == ("on" if value else "off"), (name, cell)
                elif isinstance(value, str):
                    assert shown.group(1) == value, (name, cell)
                else:
                    assert float(shown.group(1)) == value, (name, cell)
        elif default is None:
            assert cell.startswith("none"), (name, cell)
        elif isinstance(default, bool):
            assert cell == ("on" if default else "off"), (name, cell)
        else:
            assert cell.startswith(f"`{default}`"), (name, cell)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_resolves(doc):
    text = open(doc, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold commands, not links
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    missing = [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")
               and not os.path.exists(os.path.join(os.path.dirname(doc), t.split("#")[0]))]
    assert not missing, missing
