# The systemd app image of the e2e suite (as the kit's localhost/kdapp-systemd:1). Its case runs
# only on cgroup v1 nodes (README "End-to-end tests"); GitHub's runners are cgroup v2.
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus python3 python-is-python3 python3-setuptools curl procps ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && systemctl mask systemd-udevd.service systemd-udev-trigger.service getty.target \
      systemd-logind.service systemd-remount-fs.service
ENV container=containerd
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
