#!/bin/bash
# Two builds of `gradebox agent` compared at once: both on one stock INGInious 0.9.2 back-end, one job slot
# each, fed N jobs with 2 in flight, so that each grades about half of them in the same minute, under the same
# load from the rest of the machine. Prints each agent's own CPU per job (utime+stime of its process over the
# measured jobs, its boxes excluded) and the back-end's split of the jobs.
#
#   sudo bash scripts/inginious/agent-ab.sh OLD/gradebox NEW/gradebox [--jobs N] [--task t1|t2]
#
# Why at once: this machine's speed drifts by 20-30% within minutes (other guests), more than a change to the
# agent's own CPU is worth; two agents measured one after the other, even interleaved, differed by more than
# what was measured. Run it twice with the builds swapped. Needs the virtualenv (setup-venv.sh) and the
# side-by-side's image store (side-by-side.sh makes it). Stops what it started by pid on exit.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${GRADEBOX_INGINIOUS_VENV:-/opt/gradebox-inginious-venv}/bin/python"
TASKS="$HERE/example-course"
IMAGES="${IMAGES:-/var/lib/gradebox/side-by-side-images}"
GB_ROOT="${GB_ROOT:-/run/gradebox-side-by-side}"
JOBS=1000
TASK=t2
[ $# -ge 2 ] || { echo "usage: $0 OLD/gradebox NEW/gradebox [--jobs N] [--task t1|t2]" >&2; exit 2; }
BINS=("$1" "$2"); shift 2
while [ $# -gt 0 ]; do
    case "$1" in
        --jobs) JOBS="$2"; shift 2 ;;
        --task) TASK="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
for bin in "${BINS[@]}"; do [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }; done
[ -x "$PY" ] || { echo "needs the INGInious virtualenv: bash $HERE/setup-venv.sh" >&2; exit 2; }
[ -d "$IMAGES" ] || { echo "needs the image store $IMAGES: run side-by-side.sh once" >&2; exit 2; }

LOGS="$(mktemp -d /tmp/gradebox-agent-ab.XXXXXX)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
"$PY" "$HERE/harness.py" backend --agent-port 53201 --client-port 53200 --verbose > "$LOGS/backend.log" 2>&1 &
PIDS+=($!)
sleep 3
AGENTS=()
for i in 0 1; do
    "${BINS[$i]}" agent --backend tcp://127.0.0.1:53201 --tasks "$TASKS" --concurrency 1 --name "ab$i" \
        --root "$GB_ROOT" --images "$IMAGES" > "$LOGS/agent$i.log" 2>&1 &
    PIDS+=($!); AGENTS+=($!)
    for _ in $(seq 150); do grep -q "(ab$i) said hello" "$LOGS/backend.log" && break; sleep 0.2; done
    grep -q "(ab$i) said hello" "$LOGS/backend.log" || { echo "agent ${BINS[$i]} did not say hello: $LOGS/agent$i.log" >&2; exit 1; }
done
input=(); [ "$TASK" = t2 ] && input=(--input 'q1=print(6*7)')
submit() { "$PY" "$HERE/harness.py" submit --client tcp://127.0.0.1:53200 --tasks "$TASKS" --course gradebox-bench \
    --task "$TASK" "${input[@]}" --in-flight 2 --expect success --wait 60 --timeout 900 --jobs "$1"; }
submit 20 > /dev/null   # warm-up: parked threads, pooled groups, caches
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
done_jobs() { grep -c ': success in' "$LOGS/agent$1.log" || true; }
before=(); graded=()
for i in 0 1; do before+=("$(ticks "${AGENTS[$i]}")"); graded+=("$(done_jobs $i)"); done
submit "$JOBS" | tail -1
ticks_per_s=$(getconf CLK_TCK)
for i in 0 1; do
    n=$(( $(done_jobs $i) - graded[i] ))
    t=$(( $(ticks "${AGENTS[$i]}") - before[i] ))
    echo "${BINS[$i]}: $n jobs, its own CPU $(awk -v t="$t" -v n="$n" -v hz="$ticks_per_s" 'BEGIN { printf "%.3f", n ? t * 1000 / hz / n : 0 }') ms a job"
done
