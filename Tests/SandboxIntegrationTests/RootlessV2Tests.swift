import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// What a user that is not root finds on this host, asked once.
enum RootlessHost {
    static let isUser = geteuid() != 0
    static let userNamespaces = Runtime.userNamespacesAvailable()
    /// The cgroup delegated to this user (systemd's Delegate=yes, or a chown
    /// by an administrator), or why there is none.
    static let delegation: Result<String, SandboxError> = {
        let layout = (try? CgroupLayout.current()) ?? CgroupLayout()
        guard !layout.hasV1Controllers, let unified = layout.unified else {
            return .failure(.hostUnsupported("not a pure cgroup v2 host"))
        }
        return Result { () throws(SandboxError) in try CgroupV2.delegatedBase(mount: unified, euid: geteuid(), fs: Kernel.live) }
    }()
    static var delegated: String? { try? delegation.get() }
}

/// Rootless on cgroup v2: a user's boxes run in a user namespace, their
/// groups below the cgroup delegated to the user, every limit enforced.
/// Run by the guest tier as uid 1000 in a subtree made as systemd makes a
/// user's (scripts/guest/init.sh); skipped as root, where the other suites run.
@Suite(
    "rootless boxes on cgroup v2, in the user's delegated cgroup",
    .serialized,
    .enabled(if: RootlessHost.isUser, "runs as a user that is not root: the guest tier runs it as uid 1000 (scripts/guest/run.sh)"),
    .enabled(if: Host.hasBusybox, "needs busybox-static (apt-get install busybox-static)"),
    .enabled(if: RootlessHost.userNamespaces, "needs user namespaces (/proc/sys/user/max_user_namespaces > 0)"),
    .enabled(if: CgroupHost.isPureV2, "needs a pure cgroup v2 host with memory, cpu and pids"),
    .enabled(if: RootlessHost.delegated != nil, "needs a cgroup v2 subtree delegated to this user (systemd's Delegate=yes)")
)
struct RootlessV2Tests {
    func sandbox() async throws -> Sandbox { try await Fixture.shared.sandbox(state: "rootless") }

    /// Runs `script` in a box, then checks that none of its cgroups or mounts is left.
    func runAndCheckClean(_ script: String, _ edit: (inout SandboxSpec) -> Void = { _ in }) async throws -> RunResult {
        let s = try await sandbox()
        let before = try HostTraces.now(s)
        let r = try shell(s, script, edit)
        let after = try HostTraces.now(s)
        #expect(after.cgroups == before.cgroups, "a cgroup was left behind")
        #expect(after.mounts == before.mounts, "a mount was left on the host")
        return r
    }

    @Test func boxesGetTheirGroupsBelowTheDelegatedCgroup() async throws {
        let runtime = try Runtime.shared(try await sandbox().stateDirectory)
        let v2 = try #require(runtime.cgroups as? CgroupV2, "the cgroup driver: \(runtime.cgroupProblem ?? "not v2")")
        let delegated = try #require(RootlessHost.delegated)
        #expect(v2.parent == delegated + "/gradebox")
        #expect(v2.controllers == ["cpu", "memory", "pids"])
        let r = try await runAndCheckClean("id -u; cat /proc/self/uid_map | tr -s ' '") { $0.limits.memoryBytes = 64 << 20 }
        #expect(r.verdict == .OK)
        #expect(r.out == "0\n 0 \(geteuid()) 1\n", "root in the box is this user outside: \(r.out)")
    }

    @Test func everyVerdict() async throws {
        let ok = try await runAndCheckClean("echo hello") { $0.limits.memoryBytes = 64 << 20 }
        #expect(ok.verdict == .OK && ok.out == "hello\n")
        let re = try await runAndCheckClean("exit 3") { $0.limits.pids = 16 }
        #expect(re.verdict == .RE && re.exitCode == 3)
        let sg = try await runAndCheckClean("kill -SEGV $$") { $0.limits.pids = 16 }
        #expect(sg.verdict == .SG && sg.signal == SIGSEGV)
        let cpu = try await runAndCheckClean("while :; do :; done") { $0.limits.cpuTimeSeconds = 0.5 }
        #expect(cpu.verdict == .TO && cpu.limit == .cpu && cpu.cpuMs >= 500)
        let wall = try await runAndCheckClean("sleep 10") { $0.limits.wallTimeSeconds = 0.3 }
        #expect(wall.verdict == .TO && wall.limit == .wall)
        let mle = try await runAndCheckClean("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}") { $0.limits.memoryBytes = 32 << 20 }
        #expect(mle.verdict == .MLE && mle.limit == .memory, "\(mle.verdict) \(mle.err)")
        #expect((mle.memoryPeakBytes ?? 0) >= 16 << 20)
        let ole = try await runAndCheckClean("yes") { $0.limits.outputBytes = 4096 }
        #expect(ole.verdict == .OLE && ole.stdout.count + ole.stderr.count == 4096)
        // More open files than fs.nr_open: a step of the box's own set-up fails.
        let xx = try await runAndCheckClean("true") { $0.limits.openFiles = 1 << 30 }
        #expect(xx.verdict == .XX && xx.failure?.step == "setrlimit")
    }

    @Test func aForkBombIsContainedAndItsBoxRemoved() async throws {
        let r = try await runAndCheckClean("bomb() { bomb | bomb & }; bomb; sleep 1; echo survived") {
            $0.limits.pids = 32
            $0.limits.wallTimeSeconds = 3
        }
        #expect(r.verdict == .OK || r.verdict == .TO || r.verdict == .RE)
        #expect(r.limit == .pids || r.verdict == .TO || r.out.contains("survived"), "\(r.verdict) \(String(describing: r.limit))")
        let after = try shell(try await sandbox(), "echo fine") { $0.limits.pids = 32 }
        #expect(after.out == "fine\n", "the user can still run boxes")
    }

    @Test func halfACpuGetsAboutHalfACpu() async throws {
        try await expectHalfACpu(try await sandbox())
    }

    @Test func theMemoryPeakIsReadBack() async throws {
        try await expectMemoryPeak(try await sandbox())
    }

    @Test func theWarmPoolStaysRootOnly() async throws {
        var spec = SandboxSpec(image: "minimal", command: ["/bin/true"])
        spec.limits.memoryBytes = 64 << 20
        let s = try await sandbox()
        #expect(throws: SandboxError.self) { try s.runBlocking(spec, pool: true) }
    }
}
