"""Benchmark: load and validate N cluster files (default 1000); goal: well under 1 s CPU per 100 files.

    python bench/bench_validate.py [N]

Writes a temporary repo with the bundled catalog and N variations of a cluster file, then
measures the CPU time of load + validate (+ resolve/render/emit, reported separately).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from kdrender.emit import bundle_files  # noqa: E402
from kdrender.load import load_repo  # noqa: E402
from kdrender.pipeline import render_model  # noqa: E402
from kdrender.validate import validate_repo  # noqa: E402

CLUSTER = """apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: spark-{i}
  namespace: ns-{ns}
spec:
  app: spark221e2
  roles:
  - id: controller
    resources:
      requests: {{cpu: "2", memory: 4Gi}}
      limits: {{cpu: "2", memory: 4Gi}}
  - id: worker
    members: {workers}
    resources:
      requests: {{cpu: "2", memory: 4Gi}}
      limits: {{cpu: "2", memory: 4Gi}}
    storage:
      size: 40Gi
  - id: jupyter
    members: 1
    resources:
      requests: {{cpu: "2", memory: 4Gi}}
      limits: {{cpu: "2", memory: 4Gi}}
"""


def main(n: int) -> None:
    tmp = tempfile.mkdtemp(prefix="kdrender-bench-")
    try:
        shutil.copytree(os.path.join(ROOT, "catalog"), os.path.join(tmp, "catalog"))
        os.makedirs(os.path.join(tmp, "clusters"))
        for i in range(n):
            with open(os.path.join(tmp, "clusters", f"spark-{i:04d}.yaml"), "w") as fh:
                fh.write(CLUSTER.format(i=i, ns=i % 7, workers=1 + i % 5))
        t0 = time.process_time()
        model, problems = validate_repo(load_repo(tmp))
        t1 = time.process_time()
        assert not problems, problems[:3]
        rendered = render_model(model)
        files = bundle_files(rendered)
        t2 = time.process_time()
        print(f"{n} cluster files: load+validate {t1 - t0:.3f} s CPU ({(t1 - t0) * 100 / n:.3f} s per 100 files); "
              f"render+emit {t2 - t1:.3f} s CPU for {len(files)} files")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
