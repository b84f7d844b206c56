"""Data flows one way through the pipeline: resolve (and validation, which uses its name checks)
never imports render."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_validate_and_resolve_do_not_import_render():
    code = (
        "import sys\n"
        "from kdrender.load import load_repo\n"
        "from kdrender.validate import validate_repo\n"
        "from kdrender.resolve import name_problems, resolve_model\n"
        f"model, problems = validate_repo(load_repo({str(ROOT)!r}))\n"
        "assert not [p for p in problems if p.level == 'error'], problems\n"
        "assert model.clusters\n"
        "name_problems(resolve_model(model))\n"
        "print(sorted(m for m in sys.modules if m.startswith('kdrender.render')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
