#!/usr/bin/env python3
"""Drive the stock INGInious 0.9.2 back-end, Docker agent and client.

Run with the venv's python (scripts/inginious/setup-venv.sh makes it):

    PY=/opt/gradebox-inginious-venv/bin/python
    $PY harness.py backend --agent-port 2001 --client-port 2000 &            # exec's inginious-backend: $! is its pid
    $PY harness.py docker-agent --backend tcp://127.0.0.1:2001 --tasks example-course &
    $PY harness.py wait-agents --client tcp://127.0.0.1:2000
    $PY harness.py submit --client tcp://127.0.0.1:2000 --tasks example-course --course gradebox-bench --task t1 --jobs 20 --in-flight 2
    $PY harness.py test-task --client tcp://127.0.0.1:2000 --tasks example-course --course gradebox-bench
    $PY harness.py spy --listen tcp://127.0.0.1:2003 --connect tcp://127.0.0.1:2001   # agents connect to :2003

Stop the back-end, the agent and spy with SIGTERM to their pid (the docker agent then removes its containers).
See README.md in this folder.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
BENCH_DOCKER_SOCK = "/run/gradebox-bench/docker-overlay2.sock"


def venv_tool(name):
    path = os.path.join(VENV_BIN, name)
    if not os.access(path, os.X_OK):
        sys.exit(f"harness: {path} missing: run harness.py with the venv's python (setup-venv.sh)")
    return path


# ---------------------------------------------------------------- back-end and agent

def cmd_backend(args):
    """exec's the stock back-end: this process becomes it (same pid), so SIGTERM/SIGINT to $! stop it."""
    argv = [venv_tool("inginious-backend"), f"tcp://{args.host}:{args.agent_port}", f"tcp://{args.host}:{args.client_port}"]
    if args.verbose:
        argv.append("--verbose")
    print("harness: exec " + " ".join(argv), file=sys.stderr, flush=True)
    os.execv(argv[0], argv)


def default_docker_host():
    """The agent's docker-py reads DOCKER_HOST; `gradebox bench setup docker/...` serves on its own socket."""
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock") and os.path.exists(BENCH_DOCKER_SOCK):
        os.environ["DOCKER_HOST"] = "unix://" + BENCH_DOCKER_SOCK


def cmd_docker_agent(args):
    default_docker_host()
    tmpdir = args.tmpdir or tempfile.mkdtemp(prefix="inginious-agent-")
    tasks = os.path.abspath(args.tasks)
    print(f"harness: DOCKER_HOST={os.environ.get('DOCKER_HOST', '(default)')} tasks={tasks} tmpdir={tmpdir}", file=sys.stderr, flush=True)
    if args.runtime == "auto":
        # The stock CLI, untouched. It picks the runtime itself: the first of `docker info`'s runtimes whose name
        # contains runc/crun/kata/nvidia (on gradebox's dockerd that is crun, listed before runc).
        argv = [venv_tool("inginious-agent-docker"), args.backend, "--tasks", tasks, "--tmpdir", tmpdir,
                "--concurrency", str(args.concurrency), "--friendly-name", args.friendly_name,
                # Without --debug-host the agent starts a container running `dig` to guess the host's IP (slow,
                # and it leaves that container behind when dig is missing). SSH debug is not used here.
                "--debug-host", "127.0.0.1"]
        if args.verbose:
            argv.append("--verbose")
        print("harness: exec " + " ".join(argv), file=sys.stderr, flush=True)
        # A shell's `cmd &` starts us with SIGINT ignored, and Python then never raises KeyboardInterrupt:
        # restore it so that SIGINT stops the stock agent (SIGTERM kills it; neither removes its containers).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execv(argv[0], argv)
    # A named runtime: the stock DockerAgent, started as inginious/scripts/agent_docker.py does, with that runtime.
    # (The stock CLI's `--runtime runc docker shared` cannot be used: in 0.9.2 its parser builds DockerRuntime
    # without `enables_gpu` and raises TypeError.)
    import asyncio
    import logging
    from zmq.asyncio import ZMQEventLoop, Context
    from inginious.agent.docker_agent import DockerAgent, DockerRuntime
    from inginious.common.filesystems.local import LocalFSProvider

    logger = logging.getLogger("inginious")
    logger.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    logger.addHandler(handler)
    runtime = DockerRuntime(runtime=args.runtime, run_as_root=False, enables_gpu=False, shared_kernel=True, envtype="docker")
    stopping = []
    while not stopping:  # the stock script restarts the agent after an exception too (e.g. the back-end went silent 10 s)
        loop = ZMQEventLoop()
        asyncio.set_event_loop(loop)
        context = Context()
        agent = DockerAgent(context, args.backend, args.friendly_name, args.concurrency, LocalFSProvider(tasks),
                            address_host="127.0.0.1", external_ports=range(64120, 64131), tmp_dir=tmpdir,
                            runtimes=[runtime], ssh_allowed=False)
        task = loop.create_task(agent.run())
        # SIGTERM/SIGINT cancel the agent: DockerAgent.run then removes the containers it runs (_end_clean).
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: (stopping.append(True), task.cancel()))
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            if stopping:
                logger.info("Agent stopped by a signal")
            else:
                logger.warning("Agent restarts (the back-end sent nothing for 10 s)")
        except Exception:
            logger.exception("Agent has received an exception forcing it to restart")
        finally:
            loop.close()
            context.destroy(1000)


# ---------------------------------------------------------------- client side

def start_client(address):
    """The stock Client on its own asyncio thread, as the web app and inginious-test-task start it."""
    from inginious.frontend.arch_helper import start_asyncio_and_zmq
    from inginious.client.client import Client

    class TimedClient(Client):
        """The stock client; it only notes when the back-end says a job started (BackendJobStarted)."""
        started = {}

        async def _handle_job_started(self, message, **kwargs):
            self.started[message.job_id] = time.monotonic()

    context, _thread = start_asyncio_and_zmq()
    client = TimedClient(context, address)
    client.start()
    return client


def wait_environment(client, env_type, env_id, timeout):
    """Waits until the back-end lists env_id of env_type (it sends its environments on ClientHello and whenever an
    agent says hello)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if env_id in client.get_available_environments().get(env_type, []):
            return True
        time.sleep(0.05)
    return False


def load_task(tasks_dir, course_id, task_id):
    """The task as the web app has it: INGInious's course/task factories over a local filesystem provider."""
    import builtins
    import gettext
    if not hasattr(builtins, "_"):  # the web app installs gettext's _; some frontend code calls it
        builtins._ = gettext.gettext
    from inginious.common.filesystems.local import LocalFSProvider
    from inginious.common.tasks_problems import get_default_problem_types
    from inginious.frontend.course_factory import create_factories
    from inginious.frontend.environment_types import register_base_env_types
    from inginious.frontend.task_dispensers.combinatory_test import CombinatoryTest
    from inginious.frontend.task_dispensers.toc import TableOfContents

    register_base_env_types()
    dispensers = {TableOfContents.get_id(): TableOfContents, CombinatoryTest.get_id(): CombinatoryTest}
    course_factory, _tf = create_factories(LocalFSProvider(os.path.abspath(tasks_dir)), dispensers, get_default_problem_types())
    return course_factory.get_course(course_id).get_task(task_id)


def cmd_wait_agents(args):
    client = start_client(args.client)
    t0 = time.monotonic()
    ok = wait_environment(client, args.env_type, args.env, args.timeout)
    envs = client.get_available_environments()
    print(json.dumps({"ok": ok, "waited_s": round(time.monotonic() - t0, 3), "environments": envs}), flush=True)
    os._exit(0 if ok else 1)


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def cgroup_cpu_ns(path):
    """A cgroup's CPU usage in ns, its descendants' (even removed ones) included: v1 cpuacct.usage, or v2 cpu.stat."""
    try:
        with open(path) as f:
            if path.endswith("cpu.stat"):
                return next(int(l.split()[1]) for l in f if l.startswith("usage_usec ")) * 1000
            return int(f.read())
    except (OSError, ValueError, StopIteration):
        return None


def cpu_sample(pids, cgroups=()):
    """CPU counters now, in clock ticks: the whole machine's busy time (/proc/stat's cpu line: user, nice, system, irq,
    softirq, steal; not idle nor iowait) and each pid's own utime+stime (/proc/PID/stat fields 14 and 15: all its
    threads, not its children; None once it is gone); in ns, each cgroup's usage."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    own = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            own[pid] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            own[pid] = None
    return {"t": time.monotonic(), "busy": v[0] + v[1] + v[2] + v[5] + v[6] + v[7], "total": sum(v), "own": own,
            "cgroups": {path: cgroup_cpu_ns(path) for path in cgroups}}


def cpu_delta(before, after, jobs):
    hz = os.sysconf("SC_CLK_TCK")
    busy = (after["busy"] - before["busy"]) / hz
    out = {"clk_tck": hz, "interval_s": round(after["t"] - before["t"], 3), "machine_busy_s": round(busy, 3),
           "machine_total_s": round((after["total"] - before["total"]) / hz, 3),
           "machine_ms_per_job": round(busy * 1000 / jobs, 3) if jobs else None, "pids": {}}
    for pid, b in before["own"].items():
        a = after["own"].get(pid)
        s = None if a is None or b is None else (a - b) / hz
        out["pids"][str(pid)] = {"cpu_s": s, "ms_per_job": round(s * 1000 / jobs, 3) if s is not None and jobs else None}
    if before["cgroups"]:
        out["cgroups"] = {}
    for path, b in before["cgroups"].items():
        a = after["cgroups"].get(path)
        s = None if a is None or b is None else (a - b) / 1e9
        out["cgroups"][path] = {"cpu_s": s, "ms_per_job": round(s * 1000 / jobs, 3) if s is not None and jobs else None}
    return out


def cmd_submit(args):
    task = load_task(args.tasks, args.course, args.task)
    client = start_client(args.client)
    if not wait_environment(client, task.get_environment_type(), task.get_environment_id(), args.wait):
        print(f"harness: environment {task.get_environment_type()}/{task.get_environment_id()} not available after "
              f"{args.wait} s: {client.get_available_environments()}", file=sys.stderr)
        os._exit(2)

    answers = {}
    for item in args.input:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"harness: --input wants ID=TEXT, got {item!r}")
        answers[key] = value

    def inputdata():
        # What the web app adds to a student's answers (frontend/submission_manager.py).
        return {**answers, "@username": "harness", "@email": "harness@example.org", "@lang": "en",
                "@time": time.strftime("%Y-%m-%d %H:%M:%S"), "@attempts": "1", "@random": [], "@state": ""}

    slots = threading.Semaphore(args.in_flight)
    lock = threading.Lock()
    all_done = threading.Event()
    records = []
    total = args.warmup + args.jobs
    counter = {"done": 0}

    def submit_one(index):
        submitted = time.monotonic()
        box = {}

        def callback(result, grade, problems, tests, custom, state, archive, stdout, stderr):
            done = time.monotonic()
            job_id = box.get("job_id")
            started = client.started.pop(job_id, None) if job_id else None
            record = {
                "job": index - args.warmup, "warmup": index < args.warmup, "job_id": job_id,
                "result": result[0], "text": result[1], "grade": grade, "problems": problems, "tests": tests,
                "custom": custom, "state": state, "stdout": stdout, "stderr": stderr,
                "archive_bytes": None if archive is None else len(archive),
                "latency_ms": round((done - submitted) * 1000, 3),
                "started_ms": None if started is None else round((started - submitted) * 1000, 3),
            }
            with lock:
                records.append(record)
                if not args.quiet or record["warmup"] is False and args.expect and record["result"] != args.expect:
                    print(json.dumps(record, default=repr), flush=True)
                counter["done"] += 1
                if counter["done"] == total:
                    all_done.set()
            slots.release()

        # new_job calls the callback itself (synchronously) when the environment is unknown: set job_id first.
        box["job_id"] = None
        job_id = client.new_job(0, task, inputdata(), callback, launcher_name="gradebox-harness", debug=args.debug)
        box["job_id"] = job_id
        if job_id is not None and args.kill_after is not None:
            threading.Timer(args.kill_after / 1000, client.kill_job, [job_id]).start()

    start = None
    measure_cpu = args.cpu or bool(args.cpu_pid) or bool(args.cpu_cgroup)
    cpu_before = None
    for i in range(total):
        if i == args.warmup:
            # Measured jobs start after the warm-up jobs are all done.
            for _ in range(args.in_flight):
                slots.acquire()
            for _ in range(args.in_flight):
                slots.release()
            start = time.monotonic()
            cpu_before = cpu_sample(args.cpu_pid, args.cpu_cgroup) if measure_cpu else None
        slots.acquire()
        submit_one(i)
    if start is None:
        start = time.monotonic()
        cpu_before = cpu_sample(args.cpu_pid, args.cpu_cgroup) if measure_cpu else None
    if not all_done.wait(args.timeout):
        print(f"harness: only {counter['done']}/{total} jobs done after {args.timeout} s", file=sys.stderr)
        os._exit(3)
    wall = time.monotonic() - start
    cpu_after = cpu_sample(args.cpu_pid, args.cpu_cgroup) if measure_cpu else None

    measured = [r for r in records if not r["warmup"]]
    lat = sorted(r["latency_ms"] for r in measured)
    started = sorted(r["started_ms"] for r in measured if r["started_ms"] is not None)
    results = {}
    for r in measured:
        results[r["result"]] = results.get(r["result"], 0) + 1
    summary = {
        "course": args.course, "task": args.task, "jobs": len(measured), "in_flight": args.in_flight,
        "warmup": args.warmup, "results": results,
        "latency_ms": {"median": round(statistics.median(lat), 1), "p95": round(percentile(lat, 0.95), 1),
                       "min": round(lat[0], 1), "max": round(lat[-1], 1)} if lat else None,
        "started_ms_median": round(statistics.median(started), 1) if started else None,
        "wall_s": round(wall, 3), "jobs_per_s": round(len(measured) / wall, 2) if wall > 0 else None,
    }
    if measure_cpu:
        summary["cpu"] = cpu_delta(cpu_before, cpu_after, len(measured))
    if args.json:
        print(json.dumps({"summary": summary}), flush=True)
    elif len(measured) > 1:
        l = summary["latency_ms"]
        print(f"{args.course}/{args.task}: {len(measured)} jobs, {args.in_flight} in flight: results {results}; "
              f"latency median {l['median']} ms, p95 {l['p95']} ms (min {l['min']}, max {l['max']}); "
              f"{summary['jobs_per_s']} jobs/s; back-end 'started' after {summary['started_ms_median']} ms (median)", flush=True)
    failed = args.expect is not None and any(r["result"] != args.expect for r in measured)
    os._exit(1 if failed else 0)  # the client's asyncio thread has no clean stop; end the process


def cmd_test_task(args):
    """The stock inginious-test-task against our back-end: it reads `backend` and `tasks_directory` from a
    configuration file (with no `backend`, or `backend: local`, it would start its own back-end and agents
    in-process, create_arch in frontend/arch_helper.py). It sleeps 15 s before the first job ("waiting for
    containers loading")."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(f"backend: {args.client}\ntasks_directory: {os.path.abspath(args.tasks)}\n")
    argv = [venv_tool("inginious-test-task"), "-c", config.name, args.course, *args.task]
    if args.verbose:
        argv.append("--verbose")
    print("harness: " + " ".join(argv), file=sys.stderr, flush=True)
    try:
        return subprocess.call(argv)
    finally:
        os.unlink(config.name)


def cmd_spy(args):
    """A transparent ZMQ relay that prints every message: agents (or clients) connect to --listen instead of the
    back-end, and each of them gets its own DEALER to --connect (so the back-end still sees one peer per agent)."""
    import zmq
    from dataclasses import asdict
    from inginious.common import messages

    def show(direction, peer, payload):
        msg = messages.load(payload)
        name = msg.__class__.__name__
        if not args.pings and name in ("Ping", "Pong"):
            return
        fields = {k: (f"<{len(v)} bytes>" if isinstance(v, bytes) and not args.raw else v) for k, v in asdict(msg).items()}
        line = {"t": round(time.monotonic() - t0, 4), "dir": direction, "peer": peer.hex(), "type": name, "fields": fields}
        if args.raw:
            line["msgpack_hex"] = payload.hex()
        print(json.dumps(line, default=lambda v: v.hex() if isinstance(v, bytes) else repr(v)), flush=True)

    ctx = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    front.bind(args.listen)
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    dealers, owners = {}, {}
    t0 = time.monotonic()
    print(f"harness: spy {args.listen} -> {args.connect}", file=sys.stderr, flush=True)
    while True:
        for sock, _event in poller.poll():
            if sock is front:
                peer, payload = front.recv_multipart()
                if peer not in dealers:
                    dealer = ctx.socket(zmq.DEALER)
                    dealer.connect(args.connect)
                    dealers[peer], owners[dealer] = dealer, peer
                    poller.register(dealer, zmq.POLLIN)
                show("in", peer, payload)  # from the peer that connected to us, towards --connect
                dealers[peer].send(payload)
            else:
                payload = sock.recv()
                show("out", owners[sock], payload)
                front.send_multipart([owners[sock], payload])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backend", help="exec the stock inginious-backend (this pid becomes the back-end's)")
    p.add_argument("--agent-port", type=int, required=True)
    p.add_argument("--client-port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("-v", "--verbose", action="store_true", help="the back-end logs at DEBUG level")
    p.set_defaults(func=cmd_backend)

    p = sub.add_parser("docker-agent", help="run the stock Docker agent")
    p.add_argument("--backend", required=True, help="the back-end's agent address, e.g. tcp://127.0.0.1:2001")
    p.add_argument("--tasks", required=True, help="the tasks folder (COURSE/TASK/task.yaml)")
    p.add_argument("--concurrency", type=int, default=os.cpu_count())
    p.add_argument("--runtime", default="runc", help="Docker runtime for grading containers: runc (default), crun, ... "
                   "or auto (the stock inginious-agent-docker CLI and its own runtime detection)")
    p.add_argument("--tmpdir", help="the agent's work folder (it empties it at start); default: a new temp dir")
    p.add_argument("--friendly-name", default="stock-docker-agent")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_docker_agent)

    p = sub.add_parser("wait-agents", help="wait until the back-end offers an environment")
    p.add_argument("--client", required=True, help="the back-end's client address, e.g. tcp://127.0.0.1:2000")
    p.add_argument("--env-type", default="docker")
    p.add_argument("--env", default="default")
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(func=cmd_wait_agents)

    p = sub.add_parser("submit", help="submit jobs with the stock Client and wait for their results")
    p.add_argument("--client", required=True)
    p.add_argument("--tasks", required=True)
    p.add_argument("--course", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--input", action="append", default=[], metavar="ID=TEXT")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--in-flight", type=int, default=1, help="jobs submitted and not yet done at any time")
    p.add_argument("--warmup", type=int, default=0, help="jobs run first and left out of the numbers")
    p.add_argument("--kill-after", type=float, metavar="MS", help="kill each job (Client.kill_job) MS ms after submitting it")
    p.add_argument("--debug", action="store_true", help="INGInious debug mode: the result carries the run script's stdout/stderr")
    p.add_argument("--expect", help="exit 1 unless every measured job's result is this (e.g. success)")
    p.add_argument("--json", action="store_true", help="the summary as one JSON line too")
    p.add_argument("--quiet", action="store_true", help="no line per job (except results other than --expect)")
    p.add_argument("--wait", type=float, default=60, help="seconds to wait for the task's environment")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for all results")
    p.add_argument("--cpu", action="store_true", help="the summary gets the whole machine's busy CPU time over the "
                   "measured jobs (/proc/stat, from the first measured submission to the last result) and per job")
    p.add_argument("--cpu-pid", type=int, action="append", default=[], metavar="PID",
                   help="also PID's own CPU time over the same interval (utime+stime of /proc/PID/stat, children excluded); implies --cpu; repeatable")
    p.add_argument("--cpu-cgroup", action="append", default=[], metavar="FILE",
                   help="also a cgroup's CPU usage over the same interval: its v1 cpuacct.usage or v2 cpu.stat file "
                   "(descendants included); implies --cpu; repeatable")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("test-task", help="run the stock inginious-test-task through the back-end")
    p.add_argument("--client", required=True)
    p.add_argument("--tasks", required=True)
    p.add_argument("--course", required=True)
    p.add_argument("task", nargs="*", help="task ids (default: all the course's tasks)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_test_task)

    p = sub.add_parser("spy", help="relay between agents (or clients) and the back-end, printing each message as JSON")
    p.add_argument("--listen", required=True, help="where the agent connects, e.g. tcp://127.0.0.1:2003")
    p.add_argument("--connect", required=True, help="the back-end's address, e.g. tcp://127.0.0.1:2001")
    p.add_argument("--pings", action="store_true", help="print Ping/Pong too")
    p.add_argument("--raw", action="store_true", help="add each message's msgpack bytes (hex), bytes fields in full")
    p.set_defaults(func=cmd_spy)

    args = parser.parse_args()
    if getattr(args, "jobs", 1) < 1 or getattr(args, "in_flight", 1) < 1:
        parser.error("--jobs and --in-flight must be positive")
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
