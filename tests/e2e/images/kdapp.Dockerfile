# The plain app image of the e2e suite on kind (the k8s-node kit builds the same as localhost/kdapp:1):
# what KubeDirector's app images carry for the agent and configcli: python, setuptools, curl.
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python-is-python3 python3-setuptools curl procps ca-certificates \
 && rm -rf /var/lib/apt/lists/*
CMD ["/bin/sleep", "infinity"]
