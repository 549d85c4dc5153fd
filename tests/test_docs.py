"""The preset tables of the docs state what the code computes (names and parameter counts)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aichoreo.models import available_presets, count_parameters, get_preset

DOCS = Path(__file__).resolve().parents[1] / "docs"
# A preset row: | `name` | ... | 1,234,567 | ...  (the first number with thousands separators).
ROW = re.compile(r"^\| `([\w-]+)` \|.*?\| ([\d,]{5,}) \|", re.M)


@pytest.mark.parametrize("page", ["fact.md", "baselines.md"])
def test_preset_tables_give_the_computed_parameter_counts(page):
    rows = ROW.findall((DOCS / page).read_text())
    assert len(rows) >= 6, f"no preset table found in docs/{page}"
    for name, count in rows:
        assert name in available_presets(), f"docs/{page} names an unknown preset {name!r}"
        assert int(count.replace(",", "")) == count_parameters(get_preset(name)), f"docs/{page}: {name}"


def test_every_preset_is_in_a_docs_table():
    documented = {name for page in ("fact.md", "baselines.md") for name, _ in ROW.findall((DOCS / page).read_text())}
    assert set(available_presets()) <= documented
