#!/usr/bin/env bash
# The whole test suite: unit tests, then (as root) integration tests of the
# sandbox and of every benchmark driver this host can run, then the cgroup v2
# guest tier: the sandbox's integration tests again, in a QEMU guest booting
# Debian's kernel with cgroup v2 alone (this host is hybrid v1).
source "$(dirname "$0")/lib.sh"
need_root
install_packages "${SANDBOX_PACKAGES[@]}" docker.io containerd podman lxc fuse-overlayfs btrfs-progs slirp4netns catatonit chromium gcc libc6-dev
step "building"
swift build --build-tests
# The driver tests run every driver family end to end: set those up first
# (packages, daemons, images). One that cannot be set up here shows in the
# tests as a known issue with the reason, not as a pass.
step "setting up the benchmark's driver families"
"$(swift build --show-bin-path)/gradebox" bench setup \
    docker/runc/overlay2/minimal docker/crun/overlay2/minimal podman/crun/overlay/minimal \
    podman/crun/overlay/minimal/rootless docker/runc/overlay2/minimal/rootless \
    lxc/lxc/dir/minimal crun runc bwrap gradebox gradebox-pool \
    || echo "gradebox: some candidates could not be set up; their driver tests report why" >&2
# The grading tests grade real INGInious tasks in INGInious's default
# environment: build it once (about 75 s; Debian's packages and PyPI).
step "building the inginious-default environment (once)"
# The grading and agent suites skip without these: a failure to make them
# fails the run here, not as skipped suites.
prereq_status=0
gradebox_bin="$(swift build --show-bin-path)/gradebox"
# (again when it predates gradebox's in-box commands: its SOURCE names them).
if ! "$gradebox_bin" image ls 2>/dev/null | grep '^inginious-default\b' | grep -q 'gradebox-inbox'; then
    "$gradebox_bin" image build inginious-default --replace \
        || { prereq_status=1; echo "gradebox: inginious-default could not be built; the grading tests report why they did not run" >&2; }
fi
# gradebox agent's end-to-end tests drive the stock INGInious 0.9.2 back-end,
# client and task tester: from PyPI, in a virtualenv (about 15 s).
step "installing INGInious 0.9.2 (PyPI) in a virtualenv for the agent's end-to-end tests"
bash scripts/inginious/setup-venv.sh \
    || { prereq_status=1; echo "gradebox: the INGInious virtualenv could not be made; the agent's end-to-end tests report why they did not run" >&2; }
step "running the tests"
host_status=0
swift test --skip-build || host_status=$?
# The integration tests' state directories keep pool namespaces and mount
# templates bound for the length of the run (on purpose): they go with it.
for base in /tmp/gradebox-itest-*; do
    [ -d "$base" ] || continue
    awk -v b="$base/" 'index($5, b) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$base"
done
# Last, and whatever the host tiers said: its own verdict, printed on its own.
step "cgroup v2 guest tier (QEMU TCG, Debian's kernel, cgroup2 only): the sandbox's integration tests, as root and rootless"
guest_status=0
bash scripts/guest/run.sh || guest_status=$?
if [ "$prereq_status" -ne 0 ] || [ "$host_status" -ne 0 ] || [ "$guest_status" -ne 0 ]; then
    echo "gradebox: tests failed: the grading suites' prerequisites $([ "$prereq_status" -eq 0 ] && echo made || echo "NOT MADE (their suites were skipped)"), host tiers $([ "$host_status" -eq 0 ] && echo passed || echo "FAILED ($host_status)"), cgroup v2 guest tier $([ "$guest_status" -eq 0 ] && echo passed || echo FAILED)" >&2
    exit 1
fi
