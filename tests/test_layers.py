"""The import direction of docs/architecture.md: a module imports only from lower rows."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "aichoreo"

# Row of each top-level module or sub-package of aichoreo (docs/architecture.md).
ROWS = {
    "defaults": 0, "errors": 0, "gcpause": 0, "jitcache": 0, "rotations": 0, "threads": 0, "fileio": 1, "featurestream": 1, "raster": 1,
    "skeleton": 1, "smpl_model": 1,
    "audio": 2, "motion": 2,
    "metrics": 3, "models": 3, "reconstruct": 3, "conventions": 3, "footlock": 3,
    "render": 3, "seeds": 3, "data": 4, "export": 4,
    "evaluate": 5, "generate": 5, "train": 5, "retarget": 5, "direct": 5, "pipeline": 6, "benchmark": 6, "live": 6,
    "config": 6, "quality_report": 6, "cli": 6, "__init__": 6, "__main__": 6,
}
# Row 3 'models' must stay free of aichoreo imports except row 0 (dims arrive as ints).
MODELS_MAY_IMPORT = {"errors", "fileio", "models"}


def _top(module: Path) -> str:
    rel = module.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("aichoreo."):
                    found.add(alias.name.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0 and node.module.startswith("aichoreo"):
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.add(parts[1])
                else:
                    found.update(a.name for a in node.names)
    return found


def test_every_module_has_a_row():
    missing = {_top(p) for p in PKG.rglob("*.py")} - set(ROWS)
    assert not missing, f"add these modules to ROWS and docs/architecture.md: {sorted(missing)}"


def test_imports_follow_the_rows():
    bad = []
    for path in PKG.rglob("*.py"):
        me = _top(path)
        for other in _imports(path):
            if other == me:
                continue
            if other not in ROWS:
                bad.append(f"{path.relative_to(PKG)} imports unknown aichoreo.{other}")
            elif me == "models" and other not in MODELS_MAY_IMPORT:
                bad.append(f"{path.relative_to(PKG)} (models) imports aichoreo.{other}")
            elif ROWS[other] >= ROWS[me] and not (me in ("cli", "__init__", "__main__", "config") and ROWS[other] <= 6):
                bad.append(f"{path.relative_to(PKG)} (row {ROWS[me]}) imports aichoreo.{other} (row {ROWS[other]})")
            elif other == "cli" and me != "__main__":
                bad.append(f"{path.relative_to(PKG)} imports the CLI")
    assert not bad, "\n".join(bad)
