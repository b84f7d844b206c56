"""The schema files kdrender ships, and how their ``pattern`` keyword reads: one home for what the
schema check (kdrender/schema.py, ``jsonschema``) and its quick walk (kdrender/schemafast.py, no
``jsonschema``) share, so neither imports the other."""

from __future__ import annotations

import json
import os
import re

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schemas")
KINDS = {
    "KubeDirectorApp": "KubeDirectorApp.json",
    "KubeDirectorCluster": "KubeDirectorCluster.json",
    "KubeDirectorConfig": "KubeDirectorConfig.json",
    "RepoConfig": "RepoConfig.json",
}
_files: dict = {}
_patterns: dict = {}


def load(name: str) -> dict:
    """The schema file ``name`` (``KubeDirectorCluster.json``), read once per run; callers never change it."""
    if name not in _files:
        with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as fh:
            _files[name] = json.load(fh)
    return _files[name]


def ecma_pattern(pattern: str):
    """A schema ``pattern`` as ECMA-262 (JSON Schema's regex dialect, which editors use) reads it:
    ``$`` is the end of the text.  In Python's ``re`` it also matches before a final newline, so
    ``"web1\\n"`` would pass ``^[a-z0-9]+$``; the API server refuses such names."""
    if pattern not in _patterns:
        _patterns[pattern] = re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))
    return _patterns[pattern]
