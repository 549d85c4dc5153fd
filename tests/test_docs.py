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


# A path of one particular machine: /work/..., /home/..., /root/..., /Users/..., /tmp/..., C:\Users\...
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|root|Users|tmp|mnt|scratch)/|\b[A-Za-z]:\\Users\\")
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "aichoreo"


def test_no_machine_paths_in_shipped_text():
    """The package (code and assets), README and docs never hold a path of the machine they were written on."""
    files = [DOCS.parent / "README.md", *DOCS.glob("*.md"),
             *(p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".txt", ".json", ""))]
    found = [f"{p.relative_to(DOCS.parent)}:{n}: {line.strip()}"
             for p in files for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
             if MACHINE_PATH.search(line)]
    assert not found, "\n".join(found)


def test_the_training_settings_in_the_docs_are_the_presets():
    """docs/training.md's preset table states each preset's batch and learning rate as the code has them."""
    from aichoreo.models import get_preset_training

    text = (DOCS / "training.md").read_text()
    rows = re.findall(r"^\| `([\w-]+)` \|[^|\n]*batch (\d+), lr ([\d.e-]+)", text, re.M)
    assert {"fact", "fact-small"} <= {name for name, _, _ in rows}
    for name, batch, lr in rows:
        training = get_preset_training(name)
        assert (training["batch_size"], training["lr"]) == (int(batch), float(lr)), name
