"""placeholder: a value under deploy/ that ``kdrender init`` left to fill in (``REPLACE-ME``).

``kdrender init`` takes the new repo's Git URL from ``--repo-url``, else from the ``origin`` remote
of the Git repo it writes into.  With neither, it writes ``REPLACE-ME`` where the URL goes (the
``repoURL`` fields of the Argo CD ApplicationSet, ``url`` of the Flux GitRepository), so that no
made-up URL reaches a cluster.  ``kdrender validate`` reads every YAML file under ``deploy/`` (the
commands that render never do) and refuses each value that still holds it.
"""

ID = "placeholder"
TARGET = "deploy"

PLACEHOLDER = "REPLACE-ME"


def _strings(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, path + (i,))
    elif isinstance(data, str):
        yield path, data


def check(ctx):
    for path, value in _strings(ctx.doc.data):
        if PLACEHOLDER in value:
            yield path, (f"still holds the placeholder {PLACEHOLDER} that kdrender init wrote (it had no --repo-url "
                         "and found no origin remote): put this repo's Git URL here")
