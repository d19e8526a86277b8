# Sourced by the scripts of this folder.
set -euo pipefail
INGI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$INGI_DIR/../.." && pwd)"
GRADEBOX="${GRADEBOX:-$REPO/.build/debug/gradebox}"
VENV="${VENV:-/opt/gradebox-inginious-venv}"
# The image the stock Docker agent grades with (it finds it by its labels).
DOCKER_IMAGE="${DOCKER_IMAGE:-ingi/inginious-c-default:gradebox}"
# `gradebox bench setup docker/...` starts dockerd on this socket, not /var/run/docker.sock.
BENCH_DOCKER_SOCK=/run/gradebox-bench/docker-overlay2.sock

say() { printf '==> %s\n' "$*" >&2; }

# Exports DOCKER_HOST so that `docker` and the agent's docker-py (docker.from_env())
# reach a running daemon; starts one with `gradebox bench setup` when none answers.
ensure_docker() {
    if [ -z "${DOCKER_HOST:-}" ] && ! docker info >/dev/null 2>&1 && [ -S "$BENCH_DOCKER_SOCK" ]; then
        export DOCKER_HOST="unix://$BENCH_DOCKER_SOCK"
    fi
    if ! docker info >/dev/null 2>&1; then
        say "no Docker daemon answers: $GRADEBOX bench setup docker/runc/overlay2/minimal"
        "$GRADEBOX" bench setup docker/runc/overlay2/minimal >&2
        [ -n "${DOCKER_HOST:-}" ] || export DOCKER_HOST="unix://$BENCH_DOCKER_SOCK"
    fi
    docker info >/dev/null
    say "Docker daemon: ${DOCKER_HOST:-default socket} (server $(docker version -f '{{.Server.Version}}'))"
}
