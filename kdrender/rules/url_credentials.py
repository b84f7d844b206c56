"""url-credentials: no URL may carry credentials (``https://user:password@host/...``).

A password (``user:password@``) in a URL of any scheme, or a lone user name in an ``http``,
``https``, ``ftp`` or ``ftps`` URL (``https://<token>@host`` is how tokens are passed); a user
name alone elsewhere (``ssh://git@host``) is no secret and passes.

Anywhere in an app, a cluster, the repo config or another object of a cluster file (``srcURL``
of file injections, the setup ``packageURL``, ``configcliURL``, env values, annotations, ...): a
password or token in Git reaches every clone, CI log and rendered bundle.  The value is never repeated in the message.
Serve the file from a location that needs no credentials (an internal mirror, a pre-signed URL)
or keep the credential in a Secret.
"""

from ..credentials import credential_paths

ID = "url-credentials"
TARGET = ("app", "cluster", "config", "extra")  # "extra": other objects in cluster files

MESSAGE = ("a URL with credentials (user or password before '@') must not be in Git, where every clone, CI log and "
           "rendered bundle would repeat it (the value is not shown); use a URL that needs no credentials "
           "(an internal mirror, a pre-signed URL) or keep the credential in a Secret")


def check(ctx):
    for path in credential_paths(ctx.doc.data):
        yield path, MESSAGE
