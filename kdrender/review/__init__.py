"""The review workflow (issue 11): what a change does to the cluster, before it is merged.

- ``revision``: the repo at a Git revision (read with ``git archive``, never touching the
  working tree) and at the working tree, loaded, validated and rendered.
- ``diff``: per-object semantic changes between two renders, with dangerous ones flagged.
- ``update_rules/``: KubeDirector's update-time admission rules between two revisions.
- ``edit``: ``scale`` and ``set`` with ruamel.yaml round-trip, validated before writing.
- ``lint``: yamllint with a bundled configuration.

None of these is imported by ``kdrender generate``.
"""
