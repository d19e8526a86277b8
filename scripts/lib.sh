# Shared by the quick-start scripts: apt packages and the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "gradebox: this script installs packages and makes namespaces and cgroups: run it as root (sudo)" >&2
        exit 1
    fi
}

# Debian packages the sandbox, its tests and the benchmark's candidates use.
# Services must not start at install time (no init system to talk to here).
install_packages() {
    step "installing Debian packages: $*"
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

SANDBOX_PACKAGES=(zlib1g-dev libzmq3-dev busybox-static debootstrap uidmap iproute2 iputils-ping crun runc bubblewrap hyperfine sqlite3 lighttpd)

# The executables a release holds, installed side by side (`gradebox bench|grade|agent` exec their siblings).
RELEASE_PRODUCTS=(gradebox gradebox-bench gradebox-grade gradebox-agent gradebox-inbox)

build_release() {
    step "building ${RELEASE_PRODUCTS[*]} (release, standard library linked statically)"
    local product
    for product in "${RELEASE_PRODUCTS[@]}"; do
        swift build -c release --static-swift-stdlib --product "$product"
    done
    mkdir -p out
    local bin
    bin="$(swift build -c release --static-swift-stdlib --show-bin-path)"
    for product in "${RELEASE_PRODUCTS[@]}"; do
        ln -sf "$bin/$product" "out/$product"
    done
}

# Whether out/ holds every release executable.
release_built() {
    local product
    for product in "${RELEASE_PRODUCTS[@]}"; do [ -x "out/$product" ] || return 1; done
}
