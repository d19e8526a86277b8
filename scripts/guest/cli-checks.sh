#!/bin/sh
# `gradebox run` as a caller types it, in the guest, against the host's image
# store shared read-only (/var/lib/gradebox/images over 9p): one line per
# check, PASS or FAIL; the exit status is the number that failed.
gb=${GRADEBOX:-/gradebox/gradebox}
state=/tmp/gradebox-guest-cli-$(id -u)
failed=0
checks=0
# check NAME VERDICT[|VERDICT...] OPTIONS... -- COMMAND...
check() {
    name=$1 want=$2
    shift 2
    checks=$((checks + 1))
    out=$("$gb" run --root "$state" --json --image minimal "$@" 2>&1)
    got=$(echo "$out" | sed -n 's/.*"verdict":"\([A-Z]*\)".*/\1/p')
    case "|$want|" in
        *"|$got|"*) [ -n "$got" ] && { echo "PASS $name: $got"; return 0; } ;;
    esac
    echo "FAIL $name: wanted $want, got $out"
    failed=$((failed + 1))
    return 1
}
field() { echo "$out" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
echo "as $(id -un) (uid $(id -u)) in $(tr "\n" " " < /proc/self/cgroup)"
check echo OK -- /bin/echo hello
check exit RE -- /bin/sh -c 'exit 3'
check signal SG -- /bin/sh -c 'kill -SEGV $$'
check cpu-time TO --time 0.5 -- /bin/sh -c 'while :; do :; done'
check wall-time TO --wall-time 0.5 -- /bin/sleep 5
check memory MLE --memory 32M -- /bin/sh -c 'x=$(head -c 200000000 /dev/zero | tr "\0" a); echo ${#x}'
check output OLE --output 4K -- /bin/sh -c 'yes'
check fork-bomb-contained 'OK|RE|TO' --pids 16 --wall-time 5 -- /bin/sh -c 'bomb() { bomb | bomb & }; bomb 2>/dev/null; sleep 1; echo survived'
if check half-a-cpu TO --cpus 0.5 --wall-time 2 -- /bin/sh -c 'while :; do :; done'; then
    share=$(awk -v c="$(field cpu_ms)" -v w="$(field wall_ms)" 'BEGIN { printf "%.2f", c / w }')
    if awk -v s="$share" 'BEGIN { exit !(s >= 0.35 && s <= 0.6) }'; then
        echo "PASS half-a-cpu share: $(field cpu_ms) ms of CPU in $(field wall_ms) ms ($share)"
    else
        echo "FAIL half-a-cpu share: $(field cpu_ms) ms of CPU in $(field wall_ms) ms ($share of a CPU)"
        failed=$((failed + 1))
    fi
fi
# The mount templates (root's) are kept until gc: the guest checks that nothing is left after it.
"$gb" gc --pool --root "$state" > /dev/null || { echo "FAIL gc --pool --root $state"; failed=$((failed + 1)); }
echo "$failed of $checks checks failed"
exit "$failed"
