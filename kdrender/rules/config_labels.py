"""config-labels: the global pod and service labels and annotations must be valid.

They are merged last into every pod template and member Service, so the same syntax rules
apply as for role labels, and they may not change the labels kdrender selects pods by.
KubeDirector checks them when kd-global-config is admitted.
"""

from .cluster_labels import check_maps

ID = "config-labels"
TARGET = "config"


def check(ctx):
    yield from check_maps(ctx.path, ctx.settings)
