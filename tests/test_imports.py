"""rooms/ is the realtime core and never imports hub/ (also enforced by import-linter), and every
module of hub/ has its place in the layers contract."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rooms_imports_without_hub() -> None:
    modules = sorted(p.stem for p in (ROOT / "rooms").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'hub' or name.startswith('hub.'):\n"
        "            raise ImportError('rooms must not import hub: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n" + "".join(f"import rooms.{m}\n" for m in modules)
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_import_linter_contract_holds() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _hub_layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = (
        c for c in config["tool"]["importlinter"]["contracts"] if c.get("containers") == ["hub"]
    )
    return [{name.strip() for name in re.split(r"[:|]", layer)} for layer in contract["layers"]]


def test_every_hub_module_has_a_place_in_the_layers() -> None:
    """A new domain or core module takes its place in the order when it is added (pyproject.toml;
    README.md, "Architecture in one page"): the layers contract checks no module it does not
    name."""
    children = {p.stem for p in (ROOT / "hub").glob("*.py") if p.stem != "__init__"}
    children |= {p.parent.name for p in (ROOT / "hub").glob("*/__init__.py")}
    placed = set().union(*_hub_layers())
    assert children - placed == set(), "add these to the hub layers contract"
    assert placed - children == set(), "these layers name nothing under hub/"
