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


def test_render_modules_only_arrange_what_resolve_worked_out():
    """Connected objects, production settings and the fill plan are resolved (kdrender/resolve.py);
    no render module imports the modules that work them out."""
    import ast

    worked_out = {"inpod", "production"}
    for path in sorted((ROOT / "kdrender" / "render").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:  # from ..x import y
                assert (node.module or "") not in worked_out, f"{path.name} imports kdrender.{node.module}"
                if node.module is None:
                    assert not worked_out & {a.name for a in node.names}, f"{path.name}: {ast.dump(node)}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("kdrender.") and a.name.split(".")[1] in worked_out
                               for a in node.names), path.name


def test_a_connected_cluster_is_resolved_with_the_cluster_that_connects(tmp_path):
    """Each cluster resolves on its own, with a lookup of the model's clusters for its connections."""
    import json

    from kdrender.pipeline import load_model
    from kdrender.resolve import resolve_model

    app = json.loads((ROOT / "catalog" / "cassandra311.json").read_text())
    (tmp_path / "catalog").mkdir()
    (tmp_path / "clusters").mkdir()
    (tmp_path / "catalog" / "cassandra311.json").write_text(json.dumps(app))
    roles = ("  roles:\n  - id: seed\n    members: 2\n    resources: {requests: {cpu: \"1\", memory: 1Gi}, "
             "limits: {cpu: \"1\", memory: 1Gi}}\n")
    (tmp_path / "clusters" / "a.yaml").write_text(
        "apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\nmetadata: {name: a, namespace: ns}\n"
        "spec:\n  app: cassandra311\n  connections: {clusters: [b]}\n" + roles)
    (tmp_path / "clusters" / "b.yaml").write_text(
        "apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\nmetadata:\n  name: b\n  namespace: ns\n"
        "  annotations: {kdrender.dev/network-policy: \"true\"}\nspec:\n  app: cassandra311\n" + roles)
    resolved = resolve_model(load_model(str(tmp_path)))
    a, b = resolved.clusters
    assert list(a.connected) == ["b"]
    assert a.connected["b"].headless == b.headless and a.connected["b"].cluster is b.cluster
    assert a.connected["b"].production.network_policy and not a.production.network_policy
    assert b.connected == {}
