"""kdrender: render KubeDirector apps and clusters into Kubernetes manifest bundles."""

__version__ = "0.1.0"
