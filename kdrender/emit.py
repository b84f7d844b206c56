"""Stage 6, emit: objects to bytes, always the same bytes for the same objects.

YAML (for golden files and ``render``) has sorted keys, block style and no aliases; JSON (for
Argo CD) is one compact object per line with sorted keys.  Neither depends on dict order,
input order or the hash seed.
"""

from __future__ import annotations

import json

import yaml

_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):
    def ignore_aliases(self, data):  # never write &anchors / *aliases
        return True


def _str_presenter(dumper, data: str):
    style = "|" if "\n" in data and not data.endswith((" ", "\t")) and "\r" not in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(obj) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16)


def yaml_stream(objects: list) -> str:
    return "".join("---\n" + to_yaml(obj) for obj in objects)


def json_stream(objects: list) -> str:
    return "".join(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for obj in objects)


def file_name(obj: dict) -> str:
    """``statefulset-spark-instance-worker.yaml``: kind and name, lower case."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def bundle_files(rendered: list) -> dict:
    """``golden/``-relative path -> content for every cluster: one file per object plus a kustomization."""
    files = {}
    for namespace, cluster, objects in rendered:
        folder = f"{namespace}/{cluster}"
        names = []
        for obj in objects:
            name = file_name(obj)
            files[f"{folder}/{name}"] = to_yaml(obj)
            names.append(name)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": names,
        }
        files[f"{folder}/kustomization.yaml"] = (
            "# Rendered by kdrender from the cluster repo; do not edit (run `kdrender build`).\n" + to_yaml(kustomization))
    return files
