"""network-policy-peers: ``kdrender.networkPolicy.allowFrom`` in kdrender.yaml lists namespace names and CIDRs.

A CIDR must be a network address (``10.0.0.0/8``, not ``10.0.0.1/8``), as the API server
requires for a NetworkPolicy ``ipBlock``.
"""

from ..production import peer_problem

ID = "network-policy-peers"
TARGET = "config"


def check(ctx):
    data = ctx.doc.data if isinstance(ctx.doc.data, dict) else {}
    netpol = (data.get("kdrender") or {}).get("networkPolicy") or {}
    for i, peer in enumerate(netpol.get("allowFrom") or []):
        message = peer_problem(peer)
        if message:
            yield ("kdrender", "networkPolicy", "allowFrom", i), message
