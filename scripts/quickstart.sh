#!/usr/bin/env bash
# The README's first command: from a fresh Debian 12 host to the benchmark report.
#   sudo scripts/quickstart.sh
# Installs the packages, builds gradebox (release), builds its images (the two the
# benchmark uses and INGInious's default grading environment), grades INGInious's two
# measured jobs (`gradebox grade bench`, under a minute), then runs `gradebox bench
# --quick` (every experiment on the candidates the thesis's comparisons need, within 9
# minutes on 2 cores), and lists what it leaves running. Idempotent: a
# second run skips what is done (packages present, build up to date, images built,
# daemons already set up).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

OUT=${GRADEBOX_BENCH_OUT:-out/bench}

# What `gradebox bench` does not install itself: the sandbox's own tools and what the
# workloads run on the host (lighttpd and ping are copied into the network images,
# iptables for the ping peer's forwarding). The container managers (docker.io, podman,
# lxc, containerd, btrfs-progs, slirp4netns ...) are installed by `bench` when it sets a
# candidate up, only for the candidates it runs.
install_packages "${SANDBOX_PACKAGES[@]}" iptables

# GRADEBOX_PREBUILT=1 keeps the release executables already in out/ (a CI job that
# built them in an earlier step); otherwise the incremental release build.
if [ -n "${GRADEBOX_PREBUILT:-}" ] && release_built; then
    step "using the gradebox already in out/ (GRADEBOX_PREBUILT)"
else
    build_release
fi

for kind in minimal full; do
    if [ -d "/var/lib/gradebox/images/$kind/rootfs" ]; then
        step "image $kind: already built"
    else
        step "building image $kind"
        out/gradebox image build "$kind"
    fi
done

# Grading: INGInious's default environment (Debian's packages and the inginious sdist
# from PyPI, about 75 s), then its two measured jobs graded as INGInious would.
if out/gradebox image ls 2>/dev/null | grep '^inginious-default\b' | grep -q 'gradebox-inbox'; then
    step "image inginious-default: already built"
else
    step "building image inginious-default"
    out/gradebox image build inginious-default --replace
fi
step "grading INGInious's two measured jobs (gradebox grade bench --records out/grading/records.jsonl)"
out/gradebox grade bench --jobs 30 --records out/grading/records.jsonl

step "running the quick benchmark suite (gradebox bench --quick --out $OUT)"
t0=$(date +%s)
out/gradebox bench --quick --out "$OUT"
t1=$(date +%s)

step "done: bench took $((t1 - t0)) s"
cat <<MSG

Grading:  out/grading/records.jsonl   (each job's result and phases; the table above)
Report:   $OUT/report.html   (open in a browser; self-contained)
Markdown: $OUT/report.md
Summary:  $OUT/bench.json
Records:  $OUT/bench.jsonl

The bench stopped what its trials started (containers, Podman's conmon processes).
Left running for the next run (it then skips the set-up), and mounted:
MSG
out/gradebox bench teardown --dry-run | sed 's/^/  /' || echo "  (out/gradebox bench teardown --dry-run could not list them)"
cat <<MSG
Stop all of it (daemons, what they left, mounts): out/gradebox bench teardown
MSG
