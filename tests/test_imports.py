"""rooms/ is the realtime core and never imports hub/ (also enforced by import-linter)."""

from __future__ import annotations

import subprocess
import sys
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
