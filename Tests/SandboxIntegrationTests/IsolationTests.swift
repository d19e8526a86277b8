import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// Every isolation and limit proven from inside a real box. Serialized: the
/// leftover checks compare host state before and after, and time limits
/// should not compete with each other for the two cores.
@Suite("Sandbox, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct IsolationTests {
    /// Runs a box that prints its namespace ids, then checks nothing of it is
    /// left on the host: no process in its pid or network namespace, no
    /// cgroup, no mount.
    func runAndCheckClean(_ script: String, _ edit: (inout SandboxSpec) -> Void = { _ in }) async throws -> RunResult {
        let sandbox = try await Fixture.shared.sandbox()
        let before = try HostTraces.now(sandbox)
        let r = try shell(sandbox, "readlink /proc/self/ns/net /proc/self/ns/pid >&2; " + script, edit)
        let ids = r.err.split(separator: "\n").prefix(2).map(String.init)
        let after = try HostTraces.now(sandbox)
        #expect(after.cgroups == before.cgroups, "a cgroup was left behind")
        #expect(after.mounts == before.mounts, "a mount was left on the host")
        if ids.count == 2 {
            #expect(!after.netns.contains(ids[0]), "a process still lives in the box's network namespace \(ids[0])")
            #expect(processesIn(pidNamespace: ids[1]) == 0, "a process still lives in the box's pid namespace")
        }
        return r
    }

    func processesIn(pidNamespace ns: String) -> Int {
        var count = 0
        guard let d = opendir("/proc") else { return 0 }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard Int(name) != nil else { continue }
            var buf = [CChar](repeating: 0, count: 64)
            let n = readlink("/proc/\(name)/ns/pid", &buf, 63)
            if n > 0, String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == ns,
               Kernel.processState(Int32(name)!) != "Z" { count += 1 }
        }
        return count
    }

    /// `Sandbox.makeGroup`: boxes run in it are counted together, its limits
    /// hold over all of them, and removing it leaves nothing.
    @Test func boxesInAGroupShareItsLimitsAndGoWithIt() async throws {
        let sandbox = try await Fixture.shared.sandbox()
        let before = try HostTraces.now(sandbox)
        var together = Limits()
        together.pids = 12
        let group = try sandbox.makeGroup(limits: together)
        let spin = try shell(sandbox, "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done") { $0.group = group }
        #expect(spin.verdict == .OK)
        let usage = try sandbox.usage(of: group)
        #expect(Double(usage.cpuNanoseconds) / 1e6 >= spin.cpuMs * 0.9, "the group counts its box's CPU: \(usage) vs \(spin.cpuMs) ms")
        // The box may have 100 processes, the group 12: the group's limit binds
        // (ash ends at a fork it cannot make: the forks are a subshell's; the
        // count is the shell's builtins: no fork is left for a tool).
        let forks = try shell(sandbox, "(i=0; while [ $i -lt 30 ]; do sleep 0.5 & i=$((i+1)); done) 2>/dev/null; set -- /proc/[0-9]*; echo $#") {
            $0.group = group
            $0.limits.pids = 100
        }
        let running = Int(forks.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(running > 0 && running <= 12, "processes in the box: \(running) (\(forks.verdict) \(forks.out) \(forks.err) \(String(describing: forks.failure)))")
        try sandbox.removeGroup(group)
        #expect(try HostTraces.now(sandbox).cgroups == before.cgroups, "the group and its boxes' groups are gone")
    }

    @Test func helloWorldIsOK() async throws {
        let r = try await runAndCheckClean("echo hello")
        #expect(r.verdict == .OK)
        #expect(r.exitCode == 0)
        #expect(r.out == "hello\n")
        #expect(r.phases.create != nil && r.phases.start != nil && r.phases.exec != nil && r.phases.delete != nil)
    }

    @Test func everySetupStepIsTimedInOrder() async throws {
        let r = try await runAndCheckClean("true")
        let steps = try #require(r.steps)
        // No limits, so no cgroup; no gate on a one-shot run, so no "released".
        #expect(steps.map(\.step) == ["runtime", "planned", "descriptors", "init", "joined", "mounted", "rooted",
                                       "forked", "confined", "started", "exited", "reaped", "deleted"])
        let times = steps.map(\.ms)
        #expect(times.first! > 0)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 }, "steps out of order: \(steps)")
    }

    @Test func theProgramIsPid2UnderItsOwnInitAndSeesNoHostProcess() async throws {
        let r = try await runAndCheckClean("echo $$; ls /proc | grep -c '^[0-9]'")
        let lines = r.out.split(separator: "\n")
        #expect(lines.first == "2", "the program runs under the box's init (pid 1)")
        // init, the shell, ls, grep: nothing from the host.
        #expect(Int(lines.last ?? "") ?? 99 <= 4)
    }

    @Test func aOneShotBoxsInitBecomesTheReaperWhichEndsWhatTheProgramLeaves() async throws {
        // The init shared our memory until the program ran, then exec'd the reaper (reaper.c).
        let t0 = Kernel.monotonicNs()
        let r = try await runAndCheckClean("tr '\\0' ' ' </proc/1/cmdline; echo; (sleep 5; echo orphan) & exit 5")
        #expect(r.verdict == .RE && r.exitCode == 5)
        #expect(r.out.hasPrefix("gradebox-reaper "), "pid 1 is: \(r.out)")
        #expect(!r.out.contains("orphan"))
        #expect(Kernel.monotonicNs() - t0 < 2_000_000_000, "the orphan was killed with the box, not waited for")
    }

    @Test func boxesLaunchedAtOnceFromManyThreadsEachRunTheirOwnProgram() async throws {
        // Each cold box's init shares its caller's memory until its program
        // runs: inits of different threads must not share a stack or a plan.
        let sandbox = try await Fixture.shared.sandbox()
        let before = try HostTraces.now(sandbox)
        let outputs = try await withThrowingTaskGroup(of: (Int, RunResult).self) { group in
            for i in 0..<12 {
                group.addTask {
                    var spec = SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", "echo box-\(i) $$"])
                    spec.limits.memoryBytes = 64 << 20
                    spec.limits.pids = 16
                    return (i, try await sandbox.run(spec))
                }
            }
            var all: [Int: RunResult] = [:]
            for try await (i, r) in group { all[i] = r }
            return all
        }
        for i in 0..<12 {
            #expect(outputs[i]?.verdict == .OK)
            #expect(outputs[i]?.out == "box-\(i) 2\n")
        }
        let after = try HostTraces.now(sandbox)
        #expect(after.cgroups == before.cgroups && after.mounts == before.mounts)
    }

    @Test func onlyLoopbackIsInTheNetworkAndItIsUp() async throws {
        let r = try await runAndCheckClean("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; ip -o link show lo | grep -q LOOPBACK,UP && echo lo-up")
        let names = Set(r.out.split(separator: "\n").map(String.init))
        #expect(names.contains("lo"))
        #expect(names.contains("lo-up"))
        #expect(names.subtracting(["lo", "lo-up"]).isEmpty, "unexpected interfaces: \(names)")
    }

    @Test func everyBoxHasANetworkNamespaceOfItsOwn() async throws {
        let sandbox = try await Fixture.shared.sandbox()
        var seen: Set<String> = []
        for _ in 0..<3 {
            let r = try shell(sandbox, "readlink /proc/self/ns/net")
            #expect(r.verdict == .OK)
            seen.insert(r.out)
        }
        #expect(seen.count == 3, "boxes shared a network namespace: \(seen)")
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/self/ns/net", &buf, 63)
        let mine = String(decoding: buf[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(!seen.contains(mine + "\n"), "a box ran in the host's network namespace")
    }

    @Test func aPlanIsReusedOnlyForTheSameSpec() async throws {
        let sandbox = try await Fixture.shared.sandbox()
        let runtime = try Runtime.shared(sandbox.stateDirectory)
        let rootfs = try sandbox.images.rootfsPath("minimal")
        var spec = SandboxSpec(image: "minimal", command: ["/bin/echo", "one"])
        let first = try runtime.plan(spec, rootfs: rootfs, joinsNetwork: false)
        #expect(try runtime.plan(spec, rootfs: rootfs, joinsNetwork: false) == first)
        spec.command = ["/bin/echo", "two"]
        #expect(try runtime.plan(spec, rootfs: rootfs, joinsNetwork: false).argv == ["/bin/echo", "two"])
        spec.limits.tmpfsBytes = 1 << 20
        #expect(try runtime.plan(spec, rootfs: rootfs, joinsNetwork: false).ops != first.ops)
        #expect(try runtime.plan(spec, rootfs: rootfs, joinsNetwork: true).cloneFlags & CloneFlags.newNet == 0)
        let r = try shell(sandbox, "echo again")
        #expect(r.out == "again\n")
    }

    @Test func scratchSpaceIsWritableUpToItsSizeAllTogether() async throws {
        // /tmp and the working directory share the box's one tmpfs and its size.
        let r = try await runAndCheckClean("pwd; head -c 3000000 /dev/zero > /tmp/a && echo tmp-ok; head -c 3000000 /dev/zero > b 2>/dev/null || echo full") {
            $0.limits.tmpfsBytes = 4 << 20
            $0.workingDirectory = "/root"
        }
        #expect(r.verdict == .OK)
        #expect(r.out == "/root\ntmp-ok\nfull\n")
    }

    @Test func theRootFilesystemIsReadOnlyAndTmpIsWritable() async throws {
        let r = try await runAndCheckClean("touch /bin/x 2>&1 || echo ro-root; echo data > /tmp/f && cat /tmp/f")
        #expect(r.out.contains("ro-root"))
        #expect(r.out.contains("data"))
    }

    @Test func overlayRootIsWritableButChangesVanish() async throws {
        let r = try await runAndCheckClean("echo x > /etc/new && cat /etc/new") { $0.rootfs = .overlay }
        #expect(r.verdict == .OK)
        #expect(r.out == "x\n")
        let again = try await runAndCheckClean("test -e /etc/new && echo still-there || echo gone") { $0.rootfs = .overlay }
        #expect(again.out == "gone\n")
    }

    @Test func mountIsRefused() async throws {
        // Onto directories the image has: a missing mount point would fail for the wrong reason.
        let r = try await runAndCheckClean("mount -t tmpfs none /tmp 2>&1 || echo mount-refused; mount -t proc proc /proc 2>&1 || echo proc-refused")
        #expect(r.out.contains("mount-refused"))
        #expect(r.out.contains("proc-refused"))
    }

    /// Calls the kernel would allow any process, made from inside the box by
    /// a static C probe: only the seccomp filter can refuse them.
    @Test func theSeccompFilterRefusesPtraceNewNamespacesAndKeyrings() async throws {
        let dir = try temporaryDirectory("probe")
        defer { Kernel.removeTree(dir) }
        let source = """
            #define _GNU_SOURCE
            #include <errno.h>
            #include <sched.h>
            #include <stdio.h>
            #include <sys/ptrace.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            static void show(const char *name, long rc) { printf("%s=%s\\n", name, rc == 0 || rc > 0 ? "ok" : errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : "other"); }
            int main(void) {
                show("getpid", getpid());
                show("ptrace", ptrace(PTRACE_TRACEME, 0, 0, 0));
                show("unshare", unshare(CLONE_NEWUSER));
                show("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
                show("clone3", syscall(SYS_clone3, 0, 0));
                return 0;
            }
            """
        try writeFile(dir + "/probe.c", source)
        let cc = waitStatus(try spawnProcess(["/usr/bin/cc", "-static", "-O1", "-o", dir + "/probe", dir + "/probe.c"]))
        try #require(cc == 0, "cc -static failed (libc6-dev and gcc are installed by scripts/test.sh)")
        let r = try await runAndCheckClean("/root/probe") { $0.mounts = [BindMount(source: dir, target: "/root")] }
        #expect(r.verdict == .OK, "\(r.err) \(String(describing: r.failure))")
        #expect(r.out == "getpid=ok\nptrace=EPERM\nunshare=EPERM\nkeyctl=EPERM\nclone3=ENOSYS\n")
    }

    @Test func theCapabilitySetsAreEmpty() async throws {
        let r = try await runAndCheckClean("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status")
        for line in r.out.split(separator: "\n") where line.hasPrefix("Cap") {
            #expect(line.hasSuffix("0000000000000000"), "\(line)")
        }
        #expect(r.out.contains("NoNewPrivs:\t1"))
        #expect(r.out.contains("Seccomp:\t2"))
    }

    @Test func sensitiveProcFilesAreMaskedAndSysIsReadOnly() async throws {
        // /proc/kcore and /proc/sched_debug do not exist on every kernel; timer_list does here.
        let r = try await runAndCheckClean("cat /proc/timer_list | wc -c; echo 1 > /proc/sys/kernel/sysrq 2>&1 || echo sys-ro; hostname")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "0")
        #expect(lines.contains("sys-ro"))
        #expect(lines.last == "gradebox")
    }

    @Test func devIsMinimal() async throws {
        let r = try await runAndCheckClean("ls /dev | tr '\\n' ' '")
        let names = Set(r.out.split(separator: " ").map(String.init))
        #expect(names.isSuperset(of: ["null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx"]))
        #expect(!names.contains("sda") && !names.contains("vda") && !names.contains("kmsg") && !names.contains("mem"))
    }

    @Test func theDevicesWorkForAnyUser() async throws {
        // Made with mknod as root (user 1000 in the box), bound from the host in a user namespace.
        for namespace in [UserNamespaceMode.never, .always] {
            let r = try await runAndCheckClean("stat -c '%n %t:%T %a' /dev/null /dev/zero; echo x >/dev/null && head -c 3 /dev/zero | wc -c") {
                if namespace == .never { $0.user = UserID(uid: 1000, gid: 1000) }
                $0.userNamespace = namespace
            }
            #expect(r.verdict == .OK, "\(namespace): \(r.err)")
            #expect(r.out == "/dev/null 1:3 666\n/dev/zero 1:5 666\n3\n", "\(namespace)")
        }
    }

    @Test func exitThreeIsRE() async throws {
        let r = try await runAndCheckClean("exit 3")
        #expect(r.verdict == .RE)
        #expect(r.exitCode == 3)
        #expect(r.processExitCode == 3)
    }

    @Test func selfKillIsSG() async throws {
        let r = try await runAndCheckClean("kill -SEGV $$")
        #expect(r.verdict == .SG)
        #expect(r.signal == SIGSEGV)
    }

    @Test func aMemoryHogGetsMLE() async throws {
        let r = try await runAndCheckClean("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}") {
            $0.limits.memoryBytes = 32 << 20
        }
        #expect(r.verdict == .MLE)
        #expect((r.memoryPeakBytes ?? 0) >= 16 << 20)
    }

    @Test func aForkBombStopsAtThePidsLimitAndTheHostKeepsWorking() async throws {
        let r = try await runAndCheckClean("bomb() { bomb | bomb & }; bomb; sleep 1; echo survived") {
            $0.limits.pids = 32
            $0.limits.wallTimeSeconds = 3
        }
        #expect(r.verdict == .OK || r.verdict == .TO || r.verdict == .RE)
        // The host can still fork: this very test process starts a program.
        let sandbox = try await Fixture.shared.sandbox()
        let after = try run(sandbox, ["/bin/echo", "host fine"])
        #expect(after.out == "host fine\n")
        #expect(r.err.contains("fork") || r.err.contains("Resource") || r.out.contains("survived") || r.verdict == .TO)
    }

    @Test func anEndlessLoopGetsTOWithinTheLimitPlusTenPercent() async throws {
        let r = try await runAndCheckClean("while :; do :; done") { $0.limits.cpuTimeSeconds = 1 }
        #expect(r.verdict == .TO)
        #expect(r.cpuMs >= 1000)
        #expect(r.cpuMs <= 1100, "CPU time \(r.cpuMs) ms for a 1 s limit")
        let w = try await runAndCheckClean("sleep 10") { $0.limits.wallTimeSeconds = 0.5 }
        #expect(w.verdict == .TO)
        #expect(w.wallMs >= 500 && w.wallMs <= 550, "wall \(w.wallMs) ms for a 0.5 s limit")
    }

    @Test func yesGetsOLEAndKeepsExactlyTheCap() async throws {
        let r = try await runAndCheckClean("yes") { $0.limits.outputBytes = 4096 }
        #expect(r.verdict == .OLE)
        #expect(r.stdout.count == 4096 - r.stderr.count)
        #expect(r.outputDroppedBytes > 0)
    }

    @Test func aMissingCommandIsABadRequestNotAVerdict() async throws {
        let sandbox = try await Fixture.shared.sandbox()
        #expect(throws: SandboxError.commandNotFound("/bin/nope", image: "minimal")) {
            try run(sandbox, ["/bin/nope"])
        }
        #expect(throws: SandboxError.self) { try run(sandbox, ["/bin/true"]) { $0.image = "no-such-image" } }
    }

    @Test func aSandboxFailureIsXXAndNamesTheStep() async throws {
        let sandbox = try await Fixture.shared.sandbox()
        // The kernel refuses more open files than fs.nr_open (1M): a step of the box's setup fails.
        let r = try run(sandbox, ["/bin/true"]) { $0.limits.openFiles = 1 << 30 }
        #expect(r.verdict == .XX)
        #expect(r.failure?.step == "setrlimit")
        #expect(r.failure?.errno == EPERM)
        // A working directory the image lacks is the caller's mistake, not the sandbox's (a bad request).
        #expect(throws: SandboxError.invalidRequest("--workdir /does/not/exist: /does/not/exist is not a directory in image minimal: use one the image has, add it, or run with --rootfs overlay")) {
            try run(sandbox, ["/bin/true"]) { $0.workingDirectory = "/does/not/exist" }
        }
    }

    @Test func theProgramRunsAsTheUserAskedFor() async throws {
        let r = try await runAndCheckClean("id -u; id -g; id -G") { $0.user = UserID(uid: 1000, gid: 1000) }
        #expect(r.verdict == .OK)
        #expect(r.out == "1000\n1000\n1000\n")
    }

    @Test func rootlessModeWorksThroughAUserNamespace() async throws {
        let r = try await runAndCheckClean("id -u; cat /proc/self/uid_map") { $0.userNamespace = .always }
        #expect(r.verdict == .OK)
        #expect(r.out.hasPrefix("0\n"))
        #expect(r.out.contains("0          0          1"))
    }

    @Test func theWarmPoolIsReusedAndResetBetweenBoxes() async throws {
        let sandbox = try await Fixture.shared.sandbox()
        var spec = SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", "readlink /proc/self/ns/net; x=$(head -c 20000000 /dev/zero | tr '\\0' a)"])
        spec.limits.memoryBytes = 64 << 20
        let first = try sandbox.runBlocking(spec, pool: true)
        spec.command = ["/bin/sh", "-c", "readlink /proc/self/ns/net"]
        // The box made for the next run of this shape takes the freed slot.
        try Runtime.shared(sandbox.stateDirectory).warm.settle()
        let second = try sandbox.runBlocking(spec, pool: true)
        #expect(first.verdict == .OK && second.verdict == .OK)
        #expect(first.out == second.out, "the same pool network namespace is reused (first ran warm: \(first.ranWarm), second: \(second.ranWarm))")
        #expect((first.memoryPeakBytes ?? 0) > 20_000_000)
        #expect((second.memoryPeakBytes ?? .max) < 20_000_000, "the peak was reset between users")
        let cleaned = try sandbox.gc(pool: true)
        #expect(cleaned.poolSlots >= 1)
    }
}

extension RunResult {
    /// The run took a box made ahead of time (its steps start with "claimed").
    var ranWarm: Bool { steps?.contains { $0.step == "claimed" } ?? false }
}

@Suite("Warm boxes, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct WarmBoxTests {
    @Test func pooledRunsAfterTheFirstFindABoxMadeAheadAndKeepEveryIsolation() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "warm")
        let warm = try Runtime.shared(sandbox.stateDirectory).warm
        defer { _ = try? sandbox.gc(pool: true) }
        var spec = SandboxSpec(image: "minimal", command: ["/bin/true"])
        spec.limits.memoryBytes = 64 << 20
        spec.limits.pids = 32
        let cold = try sandbox.runBlocking(spec, pool: true)
        #expect(cold.verdict == .OK)
        #expect(!cold.ranWarm, "the first run of a shape is cold")
        // The box made ahead waits in the gate's image, not in a copy of this process.
        warm.settle()
        let gates = ((try? Kernel.directoryEntries("/proc")) ?? []).filter { entry in
            guard Int32(entry.name) != nil, let status = Kernel.readText("/proc/\(entry.name)/status"),
                  status.contains("\nPPid:\t\(getpid())\n") else { return false }
            return Kernel.readText("/proc/\(entry.name)/cmdline")?.hasPrefix("gradebox-gate\0") == true
        }
        #expect(gates.count == 1, "one warm box, its init in the gate image: \(gates.map(\.name))")
        for i in 0..<3 {
            warm.settle()
            spec.command = ["/bin/sh", "-c", "echo run \(i) $$ $(hostname); touch /x 2>/dev/null || echo ro; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"]
            let r = try sandbox.runBlocking(spec, pool: true)
            #expect(r.ranWarm, "run \(i) found a warm box")
            #expect(r.verdict == .OK, "\(r.failure?.description ?? "") \(r.err)")
            #expect(r.out == "run \(i) 2 gradebox\nro\nlo\n", "pid 2 under its own init, own hostname, read-only root, only lo")
        }
        // The init loaded the filter before its gate: the program runs under it, once, not twice.
        warm.settle()
        spec.command = ["/bin/sh", "-c", "grep -E '^Seccomp(_filters)?:' /proc/self/status | tr -d '\\t'; unshare -n true 2>/dev/null || echo refused"]
        let filtered = try sandbox.runBlocking(spec, pool: true)
        #expect(filtered.ranWarm)
        #expect(filtered.out == "Seccomp:2\nSeccomp_filters:1\nrefused\n")
        warm.settle()
        spec.command = ["no-such-program"]
        #expect(throws: SandboxError.self, "the gate's PATH search fails as a cold box's does") { try sandbox.runBlocking(spec, pool: true) }
        warm.settle()
        spec.command = ["/bin/sh", "-c", "exit 3"]
        let re = try sandbox.runBlocking(spec, pool: true)
        #expect(re.verdict == .RE && re.exitCode == 3 && re.ranWarm)
        warm.settle()
        spec.command = ["/bin/sleep", "5"]
        spec.limits.wallTimeSeconds = 0.3
        let slow = try sandbox.runBlocking(spec, pool: true)
        #expect(slow.verdict == .TO && slow.wallMs < 1000 && slow.ranWarm)
        warm.settle()
        spec.command = ["/bin/sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a)"]
        // Far from the time it takes here (well under a second); the cgroup v2
        // guest, under QEMU's TCG on a busy host, has taken more than 10 s.
        spec.limits.wallTimeSeconds = 60
        let hog = try sandbox.runBlocking(spec, pool: true)
        #expect(hog.verdict == .MLE && hog.ranWarm, "\(hog.verdict) after \(hog.wallMs) ms, warm: \(hog.ranWarm)")
        spec.limits.memoryBytes = 128 << 20
        spec.command = ["/bin/true"]
        let other = try sandbox.runBlocking(spec, pool: true)
        #expect(!other.ranWarm, "another memory limit is another shape")
        warm.settle()
        #expect(warm.drain() == 2, "one box per shape was ready")
        #expect(warm.drain() == 0)
    }
}

@Suite("Lifecycle, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct LifecycleTests {
    @Test func createStartExecStopDelete() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "lifecycle")
        let name = "life-\(getpid())"
        var spec = SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", "echo started; while :; do sleep 1; done"])
        spec.limits.pids = 64
        try sandbox.createBlocking(name: name, spec: spec)
        let runtime = try Runtime.shared(sandbox.stateDirectory)
        let group = cgroupDirectory(runtime, "\(runtime.groupPrefix)-n-\(name)")
        #expect(access(group, F_OK) == 0, "the box has its cgroup")
        #expect(try sandbox.info(name: name).status == .created)
        #expect(throws: SandboxError.containerExists(name)) { try sandbox.createBlocking(name: name, spec: spec) }
        try sandbox.startBlocking(name: name)
        #expect(try sandbox.info(name: name).status == .running)
        let r = try sandbox.execBlocking(name: name, command: ["/bin/echo", "Hello World"])
        #expect(r.verdict == .OK)
        #expect(r.out == "Hello World\n")
        let ps = try sandbox.execBlocking(name: name, command: ["/bin/sh", "-c", "hostname; ls /proc | grep -c '^[0-9]'"])
        #expect(ps.out.hasPrefix("gradebox\n"), "exec joins the box's uts namespace")
        #expect(Int(ps.out.split(separator: "\n").last ?? "") ?? 99 <= 6, "exec joins the box's pid namespace")
        let slow = try sandbox.execBlocking(name: name, command: ["/bin/sleep", "5"], limits: Limits(wallTimeSeconds: 0.3))
        #expect(slow.verdict == .TO)
        #expect(String(decoding: try sandbox.logs(name: name).stdout, as: UTF8.self) == "started\n")
        let pid = try #require(try sandbox.info(name: name).pid)
        try sandbox.stopBlocking(name: name)
        #expect(try sandbox.info(name: name).status == .stopped)
        #expect(Kernel.processState(pid) == nil || Kernel.processState(pid) == "Z")
        try sandbox.deleteBlocking(name: name)
        #expect(throws: SandboxError.containerNotFound(name)) { try sandbox.info(name: name) }
        #expect(access(group, F_OK) != 0, "the cgroup is gone")
    }

    @Test func aDetachedExecKeepsRunningInTheBoxUntilTheBoxStops() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "lifecycle")
        let name = "detach-\(getpid())"
        try sandbox.createBlocking(name: name, spec: SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", "while :; do sleep 1; done"]))
        defer { try? sandbox.deleteBlocking(name: name) }
        try sandbox.startBlocking(name: name)
        let pid = try await sandbox.execDetached(name: name, command: ["/bin/sh", "-c", "echo serving; exec tail -f /dev/null"])
        // It returned once the program ran: the program is alive, in the box's pid namespace.
        #expect(Kernel.processState(pid) != nil && Kernel.processState(pid) != "Z")
        let initPid = try #require(try sandbox.info(name: name).pid)
        #expect(namespaceLink(pid, "pid") == namespaceLink(initPid, "pid") && namespaceLink(pid, "pid") != namespaceLink(getpid(), "pid"))
        let seen = try sandbox.execBlocking(name: name, command: ["/bin/sh", "-c", "cat /proc/[0-9]*/comm | grep -c '^tail$'"])
        #expect(seen.out == "1\n", "the detached program is a process of the box")
        var logged = ""
        for _ in 0..<200 where !logged.contains("serving") {
            logged = String(decoding: try sandbox.logs(name: name).stdout, as: UTF8.self)
            usleep(5_000)
        }
        #expect(logged.contains("serving"), "its output goes to the box's log")
        #expect(throws: SandboxError.self) { try sandbox.execDetachedBlocking(name: name, command: ["/no/such/program"]) }
        try sandbox.stopBlocking(name: name)
        // Stopping the box ends it; our reaper thread collects it.
        var gone = false
        for _ in 0..<400 where !gone {
            gone = Kernel.processState(pid) == nil
            usleep(5_000)
        }
        #expect(gone, "the detached program ends with the box and is reaped")
    }

    @Test func aFailedCreateLeavesNothing() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "lifecycle")
        let name = "broken-\(getpid())"
        var spec = SandboxSpec(image: "minimal", command: ["/bin/true"], workingDirectory: "/no/such/dir")
        spec.limits.memoryBytes = 64 << 20
        #expect(throws: SandboxError.self) { try sandbox.createBlocking(name: name, spec: spec) }
        #expect(access(sandbox.stateDirectory + "/boxes/" + name, F_OK) != 0)
        let prefix = try Runtime.shared(sandbox.stateDirectory).groupPrefix
        #expect(try HostTraces.now(sandbox).cgroups.filter { $0.hasSuffix("-n-\(name)") }.isEmpty, "no \(prefix) group is left")
        #expect(throws: SandboxError.self) { try sandbox.createBlocking(name: "../evil", spec: spec) }
    }
}

/// The target of /proc/PID/ns/KIND ("pid:[4026531836]"), naming the namespace.
func namespaceLink(_ pid: pid_t, _ kind: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 256)
    let n = readlink("/proc/\(pid)/ns/\(kind)", &buffer, buffer.count - 1)
    return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
}

extension Runtime {
    /// A cold, unpooled plan from the memo, without a mount template.
    func plan(_ spec: SandboxSpec, rootfs: String, joinsNetwork: Bool) throws(SandboxError) -> LaunchPlan {
        try plan(spec, rootfs: rootfs, joinsNetwork: joinsNetwork, pooled: false, mountTemplate: false).plan
    }
}
