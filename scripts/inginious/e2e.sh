#!/bin/bash
# End to end with the stock INGInious 0.9.2 back-end: starts the back-end and an agent, submits t1 and t2 of
# example-course through the stock client, runs inginious-test-task through the back-end, measures t1 (and t2)
# sequentially and with 2 jobs in flight, then stops everything it started (by pid).
#
#   scripts/inginious/e2e.sh                      # the stock Docker agent (runc)
#   RUNTIME=crun scripts/inginious/e2e.sh         # its grading containers on crun (RUNTIME=auto: the stock CLI's choice)
#   AGENT_CMD='gradebox agent --backend "$AGENT_ADDR" --tasks "$TASKS"' scripts/inginious/e2e.sh   # any other agent; $AGENT_ADDR is the back-end's agent address, $TASKS the example course's folder
#
# Env: JOBS (20), MEASURE ("t1 t2": the tasks measured; "" for none), AGENT_PORT (52001), CLIENT_PORT (52000), LOGS (a new temp dir), SKIP_IMAGE=1 (keep the Docker image).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JOBS="${JOBS:-20}"
AGENT_PORT="${AGENT_PORT:-52001}"
CLIENT_PORT="${CLIENT_PORT:-52000}"
LOGS="${LOGS:-$(mktemp -d /tmp/gradebox-inginious-e2e.XXXXXX)}"
export AGENT_ADDR="tcp://127.0.0.1:$AGENT_PORT"
CLIENT="tcp://127.0.0.1:$CLIENT_PORT"
export TASKS="$INGI_DIR/example-course"
COURSE=gradebox-bench
PY="$VENV/bin/python"
H="$INGI_DIR/harness.py"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -z "${AGENT_CMD:-}" ]; then
        # The agent removes its containers when stopped by SIGTERM; anything left from our image goes too.
        local left
        left="$(docker ps -aq --filter "ancestor=$DOCKER_IMAGE" 2>/dev/null || true)"
        [ -z "$left" ] || { say "removing containers left behind: $left"; docker rm -f $left >/dev/null; }
    fi
    say "logs in $LOGS"
}
trap cleanup EXIT

bash "$INGI_DIR/setup-venv.sh" "$VENV"
ensure_docker
if [ -z "${AGENT_CMD:-}" ] && { [ "${SKIP_IMAGE:-0}" != 1 ] || ! docker image inspect "$DOCKER_IMAGE" >/dev/null 2>&1; }; then
    bash "$INGI_DIR/docker-environment.sh" "$LOGS/inginious-c-default-gradebox.tar"
fi

say "back-end: agents on $AGENT_ADDR, clients on $CLIENT (log $LOGS/backend.log)"
"$PY" "$H" backend --agent-port "$AGENT_PORT" --client-port "$CLIENT_PORT" --verbose >"$LOGS/backend.log" 2>&1 &
PIDS+=($!)
if [ -n "${AGENT_CMD:-}" ]; then
    say "agent: $AGENT_CMD (log $LOGS/agent.log)"
    bash -c "exec $AGENT_CMD" >"$LOGS/agent.log" 2>&1 &
else
    say "agent: the stock Docker agent, runtime ${RUNTIME:-runc} (log $LOGS/agent.log)"
    "$PY" "$H" docker-agent --backend "$AGENT_ADDR" --tasks "$TASKS" --runtime "${RUNTIME:-runc}" \
        --tmpdir "$LOGS/agent-tmp" --verbose >"$LOGS/agent.log" 2>&1 &
fi
PIDS+=($!)
"$PY" "$H" wait-agents --client "$CLIENT" --timeout 60

status=0
run() { say "$*"; local rc=0; "$@" || rc=$?; [ $rc = 0 ] || { status=1; say "FAILED (exit $rc): $*"; }; }
SUBMIT=("$PY" "$H" submit --client "$CLIENT" --tasks "$TASKS" --course "$COURSE")
run "${SUBMIT[@]}" --task t1 --expect success --debug
run "${SUBMIT[@]}" --task t2 --input 'q1=print(6*7)' --expect success --debug
run "${SUBMIT[@]}" --task t2 --input 'q1=print(6*6)' --expect failed
run "${SUBMIT[@]}" --task t2 --input 'q1=import time; time.sleep(20)' --kill-after 1500 --expect killed
run "$PY" "$H" test-task --client "$CLIENT" --tasks "$TASKS" --course "$COURSE"

say "measurements ($JOBS jobs each, 1 warm-up; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for task in ${MEASURE-t1 t2}; do
    input=(); [ "$task" = t2 ] && input=(--input 'q1=print(6*7)')
    for k in 1 2; do
        run "${SUBMIT[@]}" --task "$task" "${input[@]}" --jobs "$JOBS" --in-flight "$k" --warmup 1 --expect success --quiet --json
    done
done
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
