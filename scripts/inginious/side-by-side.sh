#!/bin/bash
# The side-by-side: the same course, submissions and environment image, graded through one stock INGInious 0.9.2
# back-end by (a) the stock Docker agent (runc) and (b) `gradebox agent`, interleaved, and a markdown table of it.
#
#   sudo scripts/inginious/side-by-side.sh [--rounds R] [--docker-jobs N] [--gradebox-jobs N] [--warmup W]
#                                          [--out FILE.md] [--jsonl FILE] [--keep-docker]
#
# Rounds: docker then gradebox, then gradebox then docker, ... (who goes first alternates). Each round and side:
# start the agent (concurrency 2) on the one back-end, wait for its hello in the back-end's log (and, after the
# previous agent was stopped, for the back-end to drop it: until then it may still send it jobs), check t1 and t2
# once, then measure t1 and t2 (q1=print(6*7)) with 1 and with 2 jobs in flight: W warm-up jobs then N measured
# jobs each, through the stock Client (`harness.py submit --cpu --cpu-pid AGENT`), then stop the agent.
# The table: medians over rounds of each round's median / p95 latency (submission to result), jobs/s, CPU per job
# of the whole machine (/proc/stat busy time over the measured jobs), of the experiment (cgroups: this script's own,
# holding the back-end, clients, agents and a dockerd it started, plus Docker's containers' or gradebox's boxes'
# parent group) and of the agent process itself (utime+stime of /proc/PID/stat, its children excluded), the
# ratios, the issue's targets, and each round's values. Checks in the back-end's log that each job went to the
# agent under test.
#
# The same bits: docker-environment.sh makes the Docker image from gradebox's inginious-default and `docker save`s
# it (re-run when the tar is missing, older than the rootfs or that script, or not the daemon's image); that tar is
# `gradebox image import`ed into a store of its own (IMAGES) that gradebox agent gets with --images.
#
# Env (defaults): ROUNDS (3), DOCKER_JOBS (20), GRADEBOX_JOBS (200: the agent's CPU is counted in 10 ms clock
#   ticks, so 40 jobs gave it in steps of 0.25 ms), WARMUP (2), CONCURRENCY (2),
#   AGENT_PORT (53001), CLIENT_PORT (53000), TAR (/var/tmp/inginious-c-default-gradebox.tar),
#   IMAGES (/var/lib/gradebox/side-by-side-images), GB_ROOT (/run/gradebox-side-by-side, gradebox agent's --root),
#   OUT (out/inginious/side-by-side.md), JSONL (out/inginious/side-by-side.jsonl), LOGS (a new dir in /tmp),
#   KEEP_DOCKER=1 (leave a Docker daemon this script started running), GRADEBOX (the release build's gradebox).
# Stops what it started by pid on exit or interrupt, and removes the containers the Docker agent left.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
COMMAND_LINE="scripts/inginious/side-by-side.sh${*:+ $*}"
BIN="$TOP/.build/release"
[ -x "$BIN/gradebox" ] || BIN="$TOP/.build/x86_64-unknown-linux-gnu/release"
export GRADEBOX="${GRADEBOX:-$BIN/gradebox}"
source "$HERE/lib.sh"

ROUNDS="${ROUNDS:-3}"
DOCKER_JOBS="${DOCKER_JOBS:-20}"
GRADEBOX_JOBS="${GRADEBOX_JOBS:-200}"
WARMUP="${WARMUP:-2}"
CONCURRENCY="${CONCURRENCY:-2}"
AGENT_PORT="${AGENT_PORT:-53001}"
CLIENT_PORT="${CLIENT_PORT:-53000}"
TAR="${TAR:-/var/tmp/inginious-c-default-gradebox.tar}"
IMAGES="${IMAGES:-/var/lib/gradebox/side-by-side-images}"
GB_IMAGE=default-docker
GB_ROOT="${GB_ROOT:-/run/gradebox-side-by-side}"
OUT="${OUT:-$TOP/out/inginious/side-by-side.md}"
JSONL="${JSONL:-$TOP/out/inginious/side-by-side.jsonl}"
KEEP_DOCKER="${KEEP_DOCKER:-0}"

usage() { sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --docker-jobs) DOCKER_JOBS="$2"; shift 2 ;;
        --gradebox-jobs) GRADEBOX_JOBS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --jsonl) JSONL="$2"; shift 2 ;;
        --keep-docker) KEEP_DOCKER=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "side-by-side: unknown argument $1 (--help)" >&2; exit 2 ;;
    esac
done
for v in ROUNDS DOCKER_JOBS GRADEBOX_JOBS CONCURRENCY; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "side-by-side: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "side-by-side: WARMUP must be an integer >= 0" >&2; exit 2; }

die() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run it as root (gradebox makes namespaces and cgroups; the Docker daemon)"

LOGS="${LOGS:-$(mktemp -d /tmp/gradebox-side-by-side.XXXXXX)}"
mkdir -p "$LOGS/raw"
TASKS="$INGI_DIR/example-course"
COURSE=gradebox-bench
PY="$VENV/bin/python"
H="$INGI_DIR/harness.py"
AGENT_ADDR="tcp://127.0.0.1:$AGENT_PORT"
CLIENT="tcp://127.0.0.1:$CLIENT_PORT"
BACKEND_LOG="$LOGS/backend.log"
BACKEND_PID=""
AGENT_PID=""
AGENT_SIDE=""
SUBMIT_PID=""
DOCKERD_PID=""
DOCKER_IMAGE_ID=""

# A cgroup of our own (v1: in the cpuacct hierarchy; v2: unified) for this script and everything it starts (the
# back-end, the agents, the clients, and a Docker daemon it starts): with the Docker containers' parent group and
# gradebox's boxes' parent group, the CPU the experiment itself used, whatever else the host runs.
CG_BASE=""; SBS_CG=""; CG_ORIG=""; OWN_CG_FILE=""; DOCKER_CG_FILE=""; GB_CG_FILE=""; CG_NOTE=""
cgroup_setup() {
    local usage
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        CG_BASE=/sys/fs/cgroup; usage=cpu.stat; CG_ORIG="$CG_BASE$(sed -n 's/^0:://p' /proc/$$/cgroup)"
    else
        CG_BASE="$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuacct(,|$)/ {print $2; exit}' /proc/mounts)"; usage=cpuacct.usage
        CG_ORIG="$CG_BASE$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ {print $3; exit}' /proc/$$/cgroup)"
    fi
    if [ -n "$CG_BASE" ] && mkdir -p "$CG_BASE/gradebox-side-by-side" 2>/dev/null \
        && echo $$ >"$CG_BASE/gradebox-side-by-side/cgroup.procs" 2>/dev/null; then
        SBS_CG="$CG_BASE/gradebox-side-by-side"
        OWN_CG_FILE="$SBS_CG/$usage"; DOCKER_CG_FILE="$CG_BASE/docker/$usage"; GB_CG_FILE="$CG_BASE/gradebox/$usage"
    else
        CG_NOTE="no cgroup of its own could be made: the experiment's CPU is not measured"
        say "($CG_NOTE)"
    fi
}
cgroup_teardown() {
    [ -n "$SBS_CG" ] && [ -d "$SBS_CG" ] || return 0
    local pid
    for pid in $(cat "$SBS_CG/cgroup.procs" 2>/dev/null); do echo "$pid" >"$CG_ORIG/cgroup.procs" 2>/dev/null || true; done
    rmdir "$SBS_CG" 2>/dev/null || say "could not remove the cgroup $SBS_CG"
}

stop_pid() {  # stop_pid PID WHAT [SECONDS]: SIGTERM, wait, then SIGKILL
    local pid="$1" what="$2" secs="${3:-20}" i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    say "$what (pid $pid) still running after ${secs} s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

remove_docker_leftovers() {
    [ -n "$DOCKER_IMAGE_ID" ] || return 0
    local left
    left="$(docker ps -aq --filter "ancestor=$DOCKER_IMAGE_ID" 2>/dev/null || true)"
    [ -z "$left" ] || { say "removing containers the Docker agent left: $(echo $left)"; docker rm -f $left >/dev/null 2>&1 || true; }
}

stop_agent() {
    [ -n "$AGENT_PID" ] || return 0
    stop_pid "$AGENT_PID" "the $AGENT_SIDE agent" 30
    [ "$AGENT_SIDE" != docker ] || remove_docker_leftovers
    AGENT_PID=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [ -z "$SUBMIT_PID" ] || stop_pid "$SUBMIT_PID" "harness submit" 5
    stop_agent
    stop_pid "$BACKEND_PID" "the back-end" 10
    remove_docker_leftovers
    if [ -d "$GB_ROOT" ] && [ -x "$GRADEBOX" ]; then
        "$GRADEBOX" gc --root "$GB_ROOT" --images "$IMAGES" --pool >/dev/null 2>&1 || say "gradebox gc --root $GB_ROOT failed"
    fi
    rm -rf "$LOGS"/agent-tmp-* 2>/dev/null
    if [ -n "$DOCKERD_PID" ]; then
        if [ "$KEEP_DOCKER" = 1 ]; then say "the Docker daemon this script started stays up (pid $DOCKERD_PID)"
        else say "stopping the Docker daemon this script started (pid $DOCKERD_PID)"; stop_pid "$DOCKERD_PID" dockerd 30; fi
    fi
    cgroup_teardown
    say "logs in $LOGS"
    exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# waited OUT ERR COMMAND...: runs COMMAND in the background (stdout to OUT, stderr to ERR) and waits for it, so that
# a signal to this script is handled at once (and the traps' messages do not go to ERR).
waited() {
    local out="$1" err="$2" rc=0; shift 2
    "$@" >"$out" 2>"$err" & SUBMIT_PID=$!
    wait "$SUBMIT_PID" || rc=$?
    SUBMIT_PID=""
    return $rc
}

# wait_log PATTERN FROM_BYTE SECONDS [PID]: until the back-end's log has the fixed string PATTERN after byte FROM_BYTE
# (fails at once if PID, an agent, died).
wait_log() {
    local pattern="$1" from="$2" secs="$3" pid="${4:-}" i
    for ((i = 0; i < secs * 10; i++)); do
        tail -c +"$((from + 1))" "$BACKEND_LOG" | grep -qF -- "$pattern" && return 0
        [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 2
        kill -0 "$BACKEND_PID" 2>/dev/null || die "the back-end died: $(tail -5 "$BACKEND_LOG")"
        sleep 0.1
    done
    return 1
}
log_size() { stat -c %s "$BACKEND_LOG"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ------------------------------------------------------------------ what it needs
cgroup_setup
LOAD_START="$(loadavg)"
DATE_START="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "side-by-side: $ROUNDS rounds, Docker $DOCKER_JOBS / gradebox $GRADEBOX_JOBS jobs per task and mode, $WARMUP warm-up, concurrency $CONCURRENCY; load average $LOAD_START; logs $LOGS"

if [ ! -x "$BIN/gradebox" ] || [ ! -x "$BIN/gradebox-agent" ] || [ ! -x "$BIN/gradebox-bench" ]; then
    command -v swift >/dev/null || die "no release build in $BIN and no swift to make one"
    say "no release build in $BIN: building it (scripts/lib.sh build_release)"
    (source "$TOP/scripts/lib.sh"; build_release)
    BIN="$TOP/.build/release"; GRADEBOX="$BIN/gradebox"
fi
[ -x "$BIN/gradebox-agent" ] || die "missing $BIN/gradebox-agent"
for port in "$AGENT_PORT" "$CLIENT_PORT"; do
    ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || die "port $port is in use (AGENT_PORT / CLIENT_PORT)"
done

bash "$INGI_DIR/setup-venv.sh" "$VENV"
[ -x "$PY" ] || die "no $PY"

# The Docker daemon: the one that answers, or the one `gradebox bench setup docker/runc/overlay2/minimal` starts.
if [ -z "${DOCKER_HOST:-}" ] && ! docker info >/dev/null 2>&1 && [ -S "$BENCH_DOCKER_SOCK" ]; then
    export DOCKER_HOST="unix://$BENCH_DOCKER_SOCK"
fi
docker_was_up=0
docker info >/dev/null 2>&1 && docker_was_up=1
ensure_docker
if [ "$docker_was_up" = 0 ]; then
    DOCKERD_PID="$(cat /run/gradebox-bench/docker-overlay2.pid 2>/dev/null || true)"
    [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null || { DOCKERD_PID=""; say "(could not find the pid of the dockerd started: it stays up)"; }
    if [ -n "$DOCKERD_PID" ] && [ -n "$SBS_CG" ] && ! grep -q "gradebox-side-by-side" "/proc/$DOCKERD_PID/cgroup"; then
        CG_NOTE="the Docker daemon started outside this script's cgroup: dockerd's and containerd's own CPU is not counted"
    fi
fi
docker info -f '{{json .Runtimes}}' | grep -q '"runc"' || die "the Docker daemon has no runc runtime"
if [ -n "$SBS_CG" ]; then
    if [ "$(docker info -f '{{.CgroupDriver}}')" != cgroupfs ]; then
        DOCKER_CG_FILE=""; CG_NOTE="the Docker daemon's cgroup driver is not cgroupfs: its containers' CPU is not counted"
    elif [ -z "$DOCKERD_PID" ] && [ -z "$CG_NOTE" ]; then
        CG_NOTE="the Docker daemon was running before (outside this script's cgroup): dockerd's and containerd's own CPU is not counted, its containers' is"
    fi
    [ -z "$CG_NOTE" ] || say "($CG_NOTE)"
fi

# The environment image: Docker's, and the tar gradebox imports. Remade when stale.
ROOTFS_JSON=/var/lib/gradebox/images/inginious-default/image.json
tar_config() { tar -xOf "$TAR" manifest.json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"].split("/")[-1].removesuffix(".json"))' 2>/dev/null || true; }
docker_id="$(docker image inspect -f '{{.Id}}' "$DOCKER_IMAGE" 2>/dev/null || true)"
why=""
if [ ! -s "$TAR" ]; then why="no $TAR"
elif [ -z "$docker_id" ]; then why="no Docker image $DOCKER_IMAGE"
elif [ -e "$ROOTFS_JSON" ] && [ "$ROOTFS_JSON" -nt "$TAR" ]; then why="inginious-default was rebuilt after $TAR was saved"
elif [ "$INGI_DIR/docker-environment.sh" -nt "$TAR" ]; then why="docker-environment.sh changed after $TAR was saved"
elif [ "sha256:$(tar_config)" != "$docker_id" ]; then why="$TAR is not the daemon's $DOCKER_IMAGE ($docker_id)"
fi
if [ -n "$why" ]; then
    say "(re)making the environment image: $why"
    bash "$INGI_DIR/docker-environment.sh" "$TAR"
    docker_id="$(docker image inspect -f '{{.Id}}' "$DOCKER_IMAGE")"
fi
[ "sha256:$(tar_config)" = "$docker_id" ] || die "$TAR does not hold $DOCKER_IMAGE ($docker_id)"
DOCKER_IMAGE_ID="$docker_id"
say "environment image: $DOCKER_IMAGE = $DOCKER_IMAGE_ID, saved in $TAR"
# The Docker agent offers, for `default`, the newest image labelled so: there must be no other.
others="$(docker images -q --no-trunc --filter label=org.inginious.grading.name=default | sort -u | grep -vx "$DOCKER_IMAGE_ID" || true)"
[ -z "$others" ] || die "other Docker images are labelled org.inginious.grading.name=default: $others (remove them)"

mkdir -p "$IMAGES"
if [ ! -e "$IMAGES/$GB_IMAGE/image.json" ] || [ "$TAR" -nt "$IMAGES/$GB_IMAGE/image.json" ]; then
    say "gradebox image import $GB_IMAGE $TAR --images $IMAGES"
    "$GRADEBOX" image import --images "$IMAGES" "$GB_IMAGE" "$TAR" --replace >&2
else
    say "gradebox's copy $IMAGES/$GB_IMAGE is newer than $TAR: not imported again"
fi
"$GRADEBOX" image ls --images "$IMAGES" >&2
[ "$("$GRADEBOX" image ls --images "$IMAGES" | tail -n +2 | wc -l)" = 1 ] || die "$IMAGES must hold only $GB_IMAGE (gradebox agent offers every labelled image of its store)"

# ------------------------------------------------------------------ the back-end, one for the whole run
say "the stock back-end: agents on $AGENT_ADDR, clients on $CLIENT (log $BACKEND_LOG)"
"$PY" "$H" backend --agent-port "$AGENT_PORT" --client-port "$CLIENT_PORT" --verbose >"$BACKEND_LOG" 2>&1 &
BACKEND_PID=$!
wait_log "Backend started" 0 30 || die "the back-end did not start: $(tail -5 "$BACKEND_LOG")"

SUBMIT=("$PY" "$H" submit --client "$CLIENT" --tasks "$TASKS" --course "$COURSE" --wait 60 --timeout 900)
T2_INPUT='q1=print(6*7)'
PREV_NAME=""
FAILED_RUNS=0
printf 'side\tround\tname\tpid\n' >"$LOGS/segments.tsv"

# One line from a `harness.py submit --json --cpu` summary (argv[1]: the agent's pid).
BRIEF_PY='import json, sys
try:
    s = json.loads(sys.stdin.read())["summary"]
    l, c = s["latency_ms"], s["cpu"]
    a = c["pids"].get(sys.argv[1], {}).get("ms_per_job")
    print("median %s ms, p95 %s ms, %s jobs/s, CPU/job: machine %s ms, agent %s ms; %s" % (
        l["median"], l["p95"], s["jobs_per_s"], c["machine_ms_per_job"], a, s["results"]))
except Exception as e:
    print("no summary (%r)" % e)'

start_agent() {  # start_agent SIDE NAME
    local side="$1" name="$2" from
    from="$(log_size)"
    if [ "$side" = docker ]; then
        CPU_CGROUPS=(--cpu-cgroup "$OWN_CG_FILE" ${DOCKER_CG_FILE:+--cpu-cgroup "$DOCKER_CG_FILE"})
        "$PY" "$H" docker-agent --backend "$AGENT_ADDR" --tasks "$TASKS" --runtime runc --concurrency "$CONCURRENCY" \
            --tmpdir "$LOGS/agent-tmp-$name" --friendly-name "$name" --verbose >"$LOGS/agent-$name.log" 2>&1 &
    else
        CPU_CGROUPS=(--cpu-cgroup "$OWN_CG_FILE" --cpu-cgroup "$GB_CG_FILE")
        "$GRADEBOX" agent --backend "$AGENT_ADDR" --tasks "$TASKS" --concurrency "$CONCURRENCY" --name "$name" \
            --root "$GB_ROOT" --images "$IMAGES" >"$LOGS/agent-$name.log" 2>&1 &
    fi
    AGENT_PID=$!
    AGENT_SIDE="$side"
    [ -n "$SBS_CG" ] || CPU_CGROUPS=()
    local rc=0
    wait_log "($name) said hello" "$from" 120 "$AGENT_PID" || rc=$?
    [ $rc = 0 ] || die "agent $name (pid $AGENT_PID) $([ $rc = 2 ] && echo died || echo 'said no hello in 120 s'): $(tail -5 "$LOGS/agent-$name.log")"
    if [ -n "$PREV_NAME" ]; then
        # The back-end keeps a stopped agent (and may send it jobs) until it missed more than 5 pings of 1 s.
        wait_log "($PREV_NAME) does not respond" 0 60 || die "the back-end still has agent $PREV_NAME after 60 s"
    fi
    say "agent $name (pid $AGENT_PID, $(cat /proc/$AGENT_PID/comm)) registered; load average $(loadavg)"
    printf '%s\t%s\t%s\t%s\n' "$side" "$round" "$name" "$AGENT_PID" >>"$LOGS/segments.tsv"
}

measure_side() {  # measure_side SIDE ROUND
    local side="$1" round="$2" name="sbs-$1-r$2" jobs task k input rc
    [ "$side" = docker ] && jobs="$DOCKER_JOBS" || jobs="$GRADEBOX_JOBS"
    say "round $round/$ROUNDS: $side"
    start_agent "$side" "$name"
    # One job of each first (debug: the run file's output comes back): the agent grades them right, or we stop here.
    waited "$LOGS/raw/$name-check-t1.out" "$LOGS/raw/$name-check-t1.err" "${SUBMIT[@]}" --task t1 --debug --expect success \
        || die "$name: t1 did not succeed: $(head -c 600 "$LOGS/raw/$name-check-t1.out") $(tail -3 "$LOGS/raw/$name-check-t1.err")"
    waited "$LOGS/raw/$name-check-t2.out" "$LOGS/raw/$name-check-t2.err" "${SUBMIT[@]}" --task t2 --input "$T2_INPUT" --debug --expect success \
        || die "$name: t2 did not succeed: $(head -c 600 "$LOGS/raw/$name-check-t2.out") $(tail -3 "$LOGS/raw/$name-check-t2.err")"
    for task in t1 t2; do
        input=(); [ "$task" = t2 ] && input=(--input "$T2_INPUT")
        for k in 1 2; do
            local f="$LOGS/raw/$name-$task-k$k"
            rc=0
            waited "$f.out" "$f.err" "${SUBMIT[@]}" --task "$task" "${input[@]}" --jobs "$jobs" --in-flight "$k" \
                --warmup "$WARMUP" --expect success --json --cpu --cpu-pid "$AGENT_PID" "${CPU_CGROUPS[@]}" || rc=$?
            if [ $rc != 0 ]; then FAILED_RUNS=$((FAILED_RUNS + 1)); say "$name $task in flight $k: exit $rc: $(tail -3 "$f.err")"; fi
            say "$name $task in flight $k: $(tail -1 "$f.out" | "$PY" -c "$BRIEF_PY" "$AGENT_PID")"
        done
    done
    stop_agent
    PREV_NAME="$name"
}

for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then order=(docker gradebox); else order=(gradebox docker); fi
    for side in "${order[@]}"; do measure_side "$side" "$round"; done
done
LOAD_END="$(loadavg)"
DATE_END="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"

# ------------------------------------------------------------------ the report
mkdir -p "$(dirname "$OUT")" "$(dirname "$JSONL")"
export LOGS OUT JSONL BACKEND_LOG ROUNDS DOCKER_JOBS GRADEBOX_JOBS WARMUP CONCURRENCY COMMAND_LINE LOAD_START LOAD_END DATE_START DATE_END
export META_KERNEL="$(uname -srm)" META_CPUS="$(nproc)" META_MEM="$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
export META_DOCKER="$(docker version -f '{{.Server.Version}}' 2>/dev/null)" META_RUNC="$(runc --version 2>/dev/null | head -1)"
export META_COMMIT="$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')" META_IMAGE="$DOCKER_IMAGE_ID" META_TAR="$TAR"
export META_CGROUP="$([ -e /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1)" CG_NOTE
report_rc=0
"$PY" - <<'PYEOF' || report_rc=$?
import glob, json, os, re, statistics

E = os.environ
logs = E["LOGS"]
rounds = int(E["ROUNDS"])
jobs_of = {"docker": int(E["DOCKER_JOBS"]), "gradebox": int(E["GRADEBOX_JOBS"])}

# The back-end's log: which agent (ZMQ identity) each job was sent to, and each agent's friendly name.
agent_name, job_agent = {}, {}
hello = re.compile(r" - INFO - Agent (.*) \((sbs-[a-z]+-r\d+)\) said hello$")
sent = re.compile(r" - INFO - Sending job .* ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) to agent (.*)$")
with open(E["BACKEND_LOG"], errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if m := hello.search(line):
            agent_name[m.group(1)] = m.group(2)
        elif m := sent.search(line):
            job_agent[m.group(1)] = m.group(2)

segments = []
with open(os.path.join(logs, "segments.tsv")) as f:
    next(f)
    for line in f:
        side, rnd, name, pid = line.rstrip("\n").split("\t")
        segments.append({"side": side, "round": int(rnd), "name": name, "pid": pid})

summaries = {}  # (side, task, k) -> [summary per round]
misrouted, not_success, missing = [], [], []
with open(E["JSONL"], "w") as out:
    for seg in segments:
        for path in sorted(glob.glob(os.path.join(logs, "raw", seg["name"] + "-*.out"))):
            part = os.path.basename(path)[len(seg["name"]) + 1:-4]  # t1-k1 | check-t1
            check = part.startswith("check-")
            task = part.split("-")[1] if check else part.split("-")[0]
            k = 1 if check else int(part.split("-k")[1])
            summary = None
            with open(path) as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if "summary" in rec:
                        summary = rec["summary"]
                        continue
                    routed = agent_name.get(job_agent.get(rec.get("job_id")), None)
                    phase = "check" if check else ("warmup" if rec.get("warmup") else "measured")
                    row = {"side": seg["side"], "round": seg["round"], "agent": seg["name"], "task": task, "in_flight": k,
                           "phase": phase, "graded_by": routed, **rec}
                    out.write(json.dumps(row, default=repr) + "\n")
                    if routed != seg["name"]:
                        misrouted.append(f'{seg["name"]} {task} job {rec.get("job_id")} -> {routed}')
                    if phase == "measured" and rec.get("result") != "success":
                        not_success.append(f'{seg["name"]} {task} k{k}: {rec.get("result")} {rec.get("text")!r}'[:200])
            if not check:
                if summary is None:
                    missing.append(f'{seg["name"]} {task} k{k}')
                else:
                    summary["round"] = seg["round"]
                    summary["pid"] = seg["pid"]
                    summaries.setdefault((seg["side"], task, k), []).append(summary)

def exp_ms(s):
    """The experiment's own CPU per job: this script's cgroup + the Docker containers' or gradebox boxes' parent group."""
    groups = s.get("cpu", {}).get("cgroups")
    if not groups or any(g.get("ms_per_job") is None for g in groups.values()):
        return None
    return sum(g["ms_per_job"] for g in groups.values())

def rest_cores(s):
    """How busy the rest of the host was while the jobs ran, in cores: machine busy time minus the experiment's."""
    c = s.get("cpu", {})
    groups = c.get("cgroups")
    if not groups or not c.get("interval_s") or any(g.get("cpu_s") is None for g in groups.values()):
        return None
    return (c["machine_busy_s"] - sum(g["cpu_s"] for g in groups.values())) / c["interval_s"]

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def stat(side, task, k, what):
    vals = []
    for s in summaries.get((side, task, k), []):
        if what == "median": vals.append(s["latency_ms"]["median"] if s.get("latency_ms") else None)
        elif what == "p95": vals.append(s["latency_ms"]["p95"] if s.get("latency_ms") else None)
        elif what == "jps": vals.append(s.get("jobs_per_s"))
        elif what == "machine": vals.append(s.get("cpu", {}).get("machine_ms_per_job"))
        elif what == "exp": vals.append(exp_ms(s))
        elif what == "agent":
            p = s.get("cpu", {}).get("pids", {}).get(str(s["pid"]), {})
            vals.append(p.get("ms_per_job"))
    return med(vals)

def fmt(v, nd=1):
    if v is None: return "–"
    if abs(v) >= 100: return f"{v:,.0f}".replace(",", " ")
    return f"{v:.{nd}f}"

def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b

L = []
L.append("# gradebox agent vs the stock Docker agent, side by side\n")
L.append(f'`{E["COMMAND_LINE"]}` — {E["DATE_START"]} to {E["DATE_END"]}; kernel {E["META_KERNEL"]}, {E["META_CPUS"]} CPUs, '
         f'{E["META_MEM"]}, cgroup {E["META_CGROUP"]}; load average at start {E["LOAD_START"]}, at end {E["LOAD_END"]}.\n')
L.append(f'Stock INGInious 0.9.2 back-end and Client (one back-end for the whole run), course `gradebox-bench` '
         f'(scripts/inginious/example-course): t1 (the run file only says success) and t2 (`q1=print(6*7)` run with '
         f'`run_student`, success). Each agent with concurrency {E["CONCURRENCY"]}; {rounds} round{"s" if rounds != 1 else ""}, interleaved '
         f'(Docker first in odd rounds, gradebox first in even ones); per round, side, task and mode: {E["WARMUP"]} warm-up '
         f'job{"s" if E["WARMUP"] != "1" else ""}, then {jobs_of["docker"]} jobs (Docker) / {jobs_of["gradebox"]} jobs (gradebox). Same image: '
         f'`{E["META_IMAGE"][:19]}…` (Docker {E["META_DOCKER"]}, runc: {E["META_RUNC"]}) and gradebox\'s import of its '
         f'`docker save` ({E["META_TAR"]}); gradebox at commit {E["META_COMMIT"]} (release build).\n')
L.append("Latency: submission to result through the stock Client (median and p95 of a round's jobs); jobs/s: measured "
         "jobs over their wall time; machine CPU: the whole machine's busy time (/proc/stat) over the measured jobs, per "
         "job (everything: back-end, client, agent, Docker daemons, the grading itself, *and any other load on the host*); "
         "the experiment's CPU: the same from cgroups, without the rest of the host: this script's own cgroup (the "
         "back-end, the client, the agent, and dockerd/containerd/shims when the script started the daemon) plus the "
         "parent group of Docker's containers or of gradebox's boxes (kernel threads' work, e.g. network namespace "
         "clean-up, is in neither); "
         "agent's own CPU: utime+stime of the agent process (/proc/PID/stat, all threads, children excluded; for Docker "
         "the Python agent only, not dockerd/containerd/runc). Every value is the median over rounds of that round's value.\n")
L.append("| task | in flight | agent | jobs | latency median ms | p95 ms | jobs/s | CPU ms/job, whole machine | CPU ms/job, the experiment's | agent's own CPU ms/job |")
L.append("|---|---|---|---|---|---|---|---|---|---|")
for task in ("t1", "t2"):
    for k in (1, 2):
        for side, label in (("docker", "stock Docker (runc)"), ("gradebox", "gradebox agent")):
            n = len(summaries.get((side, task, k), []))
            L.append(f"| {task} | {k} | {label} | {jobs_of[side]} × {n} | {fmt(stat(side, task, k, 'median'))} | "
                     f"{fmt(stat(side, task, k, 'p95'))} | {fmt(stat(side, task, k, 'jps'), 2)} | "
                     f"{fmt(stat(side, task, k, 'machine'))} | {fmt(stat(side, task, k, 'exp'))} | {fmt(stat(side, task, k, 'agent'), 2)} |")
L.append("")
L.append("| task | in flight | latency median, Docker / gradebox | p95, Docker / gradebox | jobs/s, gradebox / Docker | CPU per job (whole machine), Docker / gradebox | CPU per job (the experiment's), Docker / gradebox |")
L.append("|---|---|---|---|---|---|---|")
for task in ("t1", "t2"):
    for k in (1, 2):
        r1 = ratio(stat("docker", task, k, "median"), stat("gradebox", task, k, "median"))
        r2 = ratio(stat("docker", task, k, "p95"), stat("gradebox", task, k, "p95"))
        r3 = ratio(stat("gradebox", task, k, "jps"), stat("docker", task, k, "jps"))
        r4 = ratio(stat("docker", task, k, "machine"), stat("gradebox", task, k, "machine"))
        r5 = ratio(stat("docker", task, k, "exp"), stat("gradebox", task, k, "exp"))
        L.append(f"| {task} | {k} | {fmt(r1)}× | {fmt(r2)}× | {fmt(r3)}× | {fmt(r4)}× | {fmt(r5)}× |")
L.append("")

def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**not met**")
targets = []
for task, limit in (("t1", 20), ("t2", 40)):
    v = stat("gradebox", task, 1, "median")
    targets.append((f"{task} median latency with gradebox agent ≤ {limit} ms (1 in flight)", f"{fmt(v)} ms", None if v is None else v <= limit))
for task in ("t1", "t2"):
    v = ratio(stat("docker", task, 1, "median"), stat("gradebox", task, 1, "median"))
    targets.append((f"{task}: ≥ 30× faster than the Docker agent (median latency, 1 in flight)", f"{fmt(v)}×", None if v is None else v >= 30))
for task in ("t1", "t2"):
    v = ratio(stat("gradebox", task, 2, "jps"), stat("docker", task, 2, "jps"))
    targets.append((f"{task}: ≥ 20× the Docker agent's jobs/s with 2 slots", f"{fmt(v)}×", None if v is None else v >= 20))
def pooled_agent_ms(task, k):
    """The agent's own CPU over all rounds' measured jobs of (task, k), per job: finer than one round's clock ticks."""
    cpu = jobs = 0
    for s in summaries.get(("gradebox", task, k), []):
        p = s.get("cpu", {}).get("pids", {}).get(str(s["pid"]), {})
        if p.get("cpu_s") is None:
            return None
        cpu += p["cpu_s"]; jobs += s["jobs"]
    return cpu * 1000 / jobs if jobs else None
each = {(t, k): stat("gradebox", t, k, "agent") for t in ("t1", "t2") for k in (1, 2)}
worst = max([w for w in each.values() if w is not None], default=None)
detail = ", ".join(f"{t}/{k}: {fmt(each[(t, k)], 2)} ({fmt(pooled_agent_ms(t, k), 2)})" for t in ("t1", "t2") for k in (1, 2))
targets.append(("gradebox agent's own CPU per job < 2 ms (worst task and mode)",
                f"{fmt(worst, 2)} ms — task/in flight: median over rounds (all rounds pooled): {detail}",
                None if worst is None else worst < 2))
L.append("| target (issue) | measured | |")
L.append("|---|---|---|")
for t, m, ok in targets:
    L.append(f"| {t} | {m} | {verdict(ok)} |")
L.append("")

L.append("<details><summary>Each round</summary>\n")
L.append("| round | agent | task | in flight | median ms | p95 ms | min ms | jobs/s | CPU ms/job: machine | the experiment's | the agent's | rest of the host, cores | results |")
L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for task in ("t1", "t2"):
    for k in (1, 2):
        for side in ("docker", "gradebox"):
            for s in sorted(summaries.get((side, task, k), []), key=lambda s: s["round"]):
                l = s.get("latency_ms") or {}
                cpu = s.get("cpu", {})
                agent = cpu.get("pids", {}).get(str(s["pid"]), {}).get("ms_per_job")
                L.append(f'| {s["round"]} | {side} | {task} | {k} | {fmt(l.get("median"))} | {fmt(l.get("p95"))} | {fmt(l.get("min"))} | '
                         f'{fmt(s.get("jobs_per_s"), 2)} | {fmt(cpu.get("machine_ms_per_job"))} | {fmt(exp_ms(s))} | {fmt(agent, 2)} | '
                         f'{fmt(rest_cores(s), 2)} | '
                         f'{", ".join(f"{k2} {v}" for k2, v in s.get("results", {}).items())} |')
L.append("\n</details>\n")

notes = []
if E.get("CG_NOTE"):
    notes.append("The experiment's CPU: " + E["CG_NOTE"] + ".")
if misrouted:
    notes.append(f"**{len(misrouted)} jobs were not graded by the agent under test** (back-end log): " + "; ".join(misrouted[:5]))
else:
    notes.append("Every job (checks, warm-ups, measured) was sent by the back-end to the agent under test (its log's `Sending job ... to agent`).")
if not_success:
    notes.append(f"**{len(not_success)} measured jobs did not succeed**: " + "; ".join(not_success[:5]))
if missing:
    notes.append("**Runs without a summary** (failed or interrupted): " + ", ".join(missing))
L.append("\n".join(f"* {n}" for n in notes) + "\n")
L.append(f'Raw per-job JSON lines: `{os.path.relpath(E["JSONL"], os.getcwd()) if E["JSONL"].startswith(os.getcwd()) else E["JSONL"]}`.')

text = "\n".join(L) + "\n"
with open(E["OUT"], "w") as f:
    f.write(text)
print(text)
bad = bool(misrouted or not_success or missing)
raise SystemExit(1 if bad else 0)
PYEOF
say "table in $OUT, per-job lines in $JSONL"
[ "$FAILED_RUNS" = 0 ] && [ "$report_rc" = 0 ] || die "$FAILED_RUNS measured runs failed; see $OUT and $LOGS"
