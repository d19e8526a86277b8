#!/usr/bin/env bash
# The whole test suite: unit tests, then (as root) integration tests of the
# sandbox and of every benchmark driver this host can run.
source "$(dirname "$0")/lib.sh"
need_root
install_packages "${SANDBOX_PACKAGES[@]}" docker.io containerd podman lxc fuse-overlayfs btrfs-progs slirp4netns catatonit chromium
step "building and running the tests"
swift build --build-tests
swift test --skip-build
