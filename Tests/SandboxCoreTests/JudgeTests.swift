import Testing
import CSandbox
@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

private let host = HostFacts(euid: 0, egid: 0, rootMountPoint: "/r", scratchMountPoint: "/s", userNamespacesAvailable: true)

private func spec(_ edit: (inout SandboxSpec) -> Void = { _ in }) -> SandboxSpec {
    var s = SandboxSpec(image: "minimal", command: ["prog"])
    edit(&s)
    return s
}

private func outcome(_ edit: (inout Supervisor.Outcome) -> Void) -> Supervisor.Outcome {
    var o = Supervisor.Outcome(waitStatus: nil, usage: rusage(), startedNs: nil, exitedNs: 0, failure: nil, killedFor: nil,
                               stdout: [], stderr: [], droppedBytes: 0)
    edit(&o)
    return o
}

private func judge(_ o: Supervisor.Outcome, stats: CgroupStats? = nil, _ s: SandboxSpec = spec()) throws -> RunResult {
    try Judge.verdict(o, plan: try Planner.plan(s, rootfs: "/img", host: host), spec: s, stats: stats, phases: PhaseTimes(), wallMs: 1)
}

private func exited(_ code: Int32) -> Int32 { code << 8 }

@Suite("verdicts and launch failures, from values")
struct JudgeTests {
    @Test func exitStatusesAndSignals() throws {
        #expect(try judge(outcome { $0.waitStatus = exited(0) }).verdict == .OK)
        let re = try judge(outcome { $0.waitStatus = exited(3) })
        #expect(re.verdict == .RE && re.exitCode == 3)
        let sg = try judge(outcome { $0.waitStatus = SIGSEGV })
        #expect(sg.verdict == .SG && sg.signal == SIGSEGV)
        #expect(try judge(outcome { $0.waitStatus = SIGXCPU }).verdict == .TO, "the per-process CPU backstop is a time limit")
    }

    @Test func aLimitWeEnforcedExplainsTheKill() throws {
        #expect(try judge(outcome { $0.waitStatus = SIGKILL; $0.killedFor = .TO }).verdict == .TO)
        #expect(try judge(outcome { $0.waitStatus = SIGKILL; $0.killedFor = .OLE; $0.droppedBytes = 10 }).verdict == .OLE)
        let oom = CgroupStats(cpuUsageNanoseconds: 0, memoryPeakBytes: 1 << 20, oomKills: 1)
        #expect(try judge(outcome { $0.waitStatus = SIGKILL }, stats: oom).verdict == .MLE)
        // Over the CPU limit, whatever it ended with.
        let busy = CgroupStats(cpuUsageNanoseconds: 2_000_000_000, memoryPeakBytes: nil, oomKills: 0)
        #expect(try judge(outcome { $0.waitStatus = exited(1) }, stats: busy, spec { $0.limits.cpuTimeSeconds = 1 }).verdict == .TO)
        #expect(try judge(outcome { $0.waitStatus = exited(0) }, stats: busy, spec { $0.limits.cpuTimeSeconds = 1 }).verdict == .OK)
    }

    @Test func sandboxFailuresAreXXAndNamed() throws {
        let failed = try judge(outcome { $0.failure = (0, EACCES) })
        #expect(failed.verdict == .XX)
        #expect(failed.failure?.step.hasPrefix("mount(tmpfs /s") == true, "the plan's first op: \(failed.failure?.step ?? "")")
        #expect(failed.failure?.errno == EACCES)
        let noReport = try judge(outcome { $0.waitStatus = nil })
        #expect(noReport.verdict == .XX && noReport.failure != nil)
        #expect(try judge(outcome { $0.failure = (CS_STEP_EXEC.rawValue, EACCES) }).verdict == .XX, "a program that cannot be run is not a missing one")
    }

    @Test(arguments: [ENOENT, ENOTDIR])
    func aMissingCommandIsAnErrorEverywhere(_ e: Int32) throws {
        #expect(throws: SandboxError.commandNotFound("prog", image: "minimal")) { try judge(outcome { $0.failure = (CS_STEP_EXEC.rawValue, e) }) }
        let naming = StepNaming(try Planner.plan(spec(), rootfs: "/img", host: host))
        #expect(Judge.launchError(step: CS_STEP_EXEC.rawValue, errno: e, naming: naming, command: "prog", image: "minimal", otherwise: "")
            == .commandNotFound("prog", image: "minimal"))
        #expect(Judge.isCommandNotFound(step: CS_STEP_EXEC.rawValue, errno: e))
        #expect(!Judge.isCommandNotFound(step: CS_STEP_CHDIR.rawValue, errno: e), "only execve's ENOENT means the command")
    }

    @Test func launchErrorsNameTheirStep() throws {
        let naming = StepNaming(workdir: "/work", user: UserID(uid: 1000, gid: 1000), program: "prog")
        #expect(Judge.launchError(step: CS_STEP_CHDIR.rawValue, errno: EACCES, naming: naming, command: "prog", image: "i", otherwise: "")
            == .setupFailed(SandboxFailure(step: "chdir(/work)", errno: EACCES)))
        #expect(Judge.launchError(step: CS_STEP_SETID.rawValue, errno: EPERM, naming: naming, command: "prog", image: "i", otherwise: "")
            == .setupFailed(SandboxFailure(step: "setresuid(1000:1000)", errno: EPERM)))
        #expect(Judge.launchError(step: nil, errno: 0, naming: naming, command: "prog", image: "i", otherwise: "fork(exec into box)")
            == .setupFailed(SandboxFailure(step: "fork(exec into box)", errno: 0)))
        #expect(StepNaming.name(CS_STEP_SECCOMP.rawValue) == "seccomp(SECCOMP_SET_MODE_FILTER)")
    }
}

@Suite("caller mistakes are bad requests, not sandbox failures")
struct CallerMistakeTests {
    /// The index of the first op of `plan` for which `matches` holds.
    func step(_ plan: LaunchPlan, _ matches: (MountOp) -> Bool) throws -> Int32 {
        let index = plan.ops.firstIndex(where: matches)
        return Int32(try #require(index))
    }

    @Test func aMissingWorkdirMountPointOrDirectoryIsNamed() throws {
        let plan = try Planner.plan(spec { $0.workingDirectory = "/doesnotexist" }, rootfs: "/img", host: host)
        let workdir = try step(plan) { $0.purpose == "--workdir /doesnotexist" }
        #expect(throws: SandboxError.invalidRequest("--workdir /doesnotexist: /doesnotexist is not a directory in image minimal: use one the image has, add it, or run with --rootfs overlay")) {
            try judge(outcome { $0.failure = (workdir, ENOENT) }, spec { $0.workingDirectory = "/doesnotexist" })
        }
        #expect(StepNaming(plan).callerMistake(CS_STEP_CHDIR.rawValue, errno: ENOENT, image: "minimal")
            == .invalidRequest("--workdir /doesnotexist: no such directory in image minimal"))
        // The same op failing for another reason is the sandbox's.
        #expect(StepNaming(plan).callerMistake(workdir, errno: EPERM, image: "minimal") == nil)
    }

    @Test func aMissingBindTargetOrImageDirectoryIsNamed() throws {
        let s = spec { $0.mounts = [BindMount(source: "/srv/tests", target: "/judge")] }
        let plan = try Planner.plan(s, rootfs: "/img", host: host)
        let bind = try step(plan) { $0.purpose == "--mount /srv/tests:/judge" }
        #expect(StepNaming(plan).callerMistake(bind, errno: ENOENT, image: "minimal")
            == .invalidRequest("--mount /srv/tests:/judge: /judge is not a directory in image minimal: use one the image has, add it, or run with --rootfs overlay"))
        let dev = try step(plan) { $0.kind == .mount && $0.target == "/r/dev" }
        #expect(StepNaming(plan).callerMistake(dev, errno: ENOENT, image: "/srv/img")
            == .invalidRequest("image /srv/img has no /dev directory, where every box mounts its own: add it to the image, or run with --rootfs overlay"))
        // The optional /proc masks are no one's mistake.
        let mask = try step(plan) { $0.optional }
        #expect(StepNaming(plan).callerMistake(mask, errno: ENOENT, image: "minimal") == nil)
    }

    @Test func anOverlayRootMakesTheMountPointsItLacksInItsUpperLayer() throws {
        let plan = try Planner.plan(spec { $0.rootfs = .overlay; $0.workingDirectory = "/a/b"; $0.mounts = [BindMount(source: "/s", target: "/judge")] },
                                    rootfs: "/img", host: host)
        let overlay = try step(plan) { $0.fstype == "overlay" }
        for dir in ["/r/a", "/r/a/b", "/r/judge", "/r/dev", "/r/proc", "/r/tmp"] {
            let made = try step(plan) { $0.kind == .mkdir && $0.target == dir }
            let mounted = try step(plan) { $0.kind == .mount && $0.target.hasPrefix(dir) }
            #expect(overlay < made && made < mounted, "\(dir)")
            #expect(plan.ops[Int(made)].flags == 0, "made with 0755, never chmod'ed: an image directory keeps its mode")
        }
        // A read-only root gets no such op: it would write into the image.
        let bind = try Planner.plan(spec { $0.workingDirectory = "/a/b" }, rootfs: "/img", host: host)
        #expect(!bind.ops.contains { $0.kind == .mkdir && ["/r/a", "/r/a/b", "/r/dev", "/r/proc", "/r/tmp"].contains($0.target) })
    }

    @Test func theImagesOwnWorkdirIsNotCovered() throws {
        let plan = try Planner.plan(spec { $0.workingDirectory = "/srv/app"; $0.workingDirectoryMode = .image }, rootfs: "/img", host: host)
        #expect(!plan.ops.contains { $0.target == "/r/srv/app" })
        #expect(plan.workdir == "/srv/app")
    }
}

@Suite("the cgroup planner: limits -> writes, every check in one place")
struct CgroupPlannerTests {
    let v1 = CgroupFeatures(version: .v1, controllers: ["memory", "cpu", "cpuacct", "pids"], memorySwapLimit: true)
    let v2 = CgroupFeatures(version: .v2, controllers: ["memory", "cpu", "pids"], mount: "/sys/fs/cgroup")

    @Test func v1WritesTheMemoryPairThenQuotaThenPids() throws {
        let writes = try CgroupPlanner.writes(Limits(memoryBytes: 64 << 20, cpus: 0.5, pids: 10), for: v1)
        #expect(writes.map(\.description) == [
            "memory:memory.limit_in_bytes=\(64 << 20)", "memory:memory.memsw.limit_in_bytes=\(64 << 20)",
            "cpu:cpu.cfs_quota_us=50000", "pids:pids.max=10",
        ])
        #expect(writes[0].swapsWithNextOnEINVAL)
        // Unset limits are written as unlimited: a reused group carries nothing over.
        #expect(try CgroupPlanner.writes(Limits(), for: v1).map(\.value) == ["-1", "-1", "-1", "max"])
    }

    @Test func v2WritesSwapAloneAndTolerantly() throws {
        let writes = try CgroupPlanner.writes(Limits(memoryBytes: 64 << 20, memorySwapBytes: 96 << 20, cpus: 2), for: v2)
        #expect(writes.map(\.description) == [
            "memory:memory.max=\(64 << 20)", "memory:memory.swap.max=\(32 << 20)", "cpu:cpu.max=200000 100000", "pids:pids.max=max",
        ])
        #expect(writes[1].optional)
    }

    @Test func missingControllersAndBadLimitsAreRefused() {
        var noPids = v2
        noPids.controllers = ["memory", "cpu"]
        #expect(throws: SandboxError.hostUnsupported("cgroup v2 controller pids is not in /sys/fs/cgroup/cgroup.controllers (needed for the process limit)")) {
            try CgroupPlanner.writes(Limits(pids: 5), for: noPids)
        }
        var noAcct = v1
        noAcct.controllers.remove("cpuacct")
        #expect(throws: SandboxError.self) { try CgroupPlanner.writes(Limits(cpuTimeSeconds: 1), for: noAcct) }
        #expect(throws: SandboxError.self) { try CgroupPlanner.writes(Limits(cpus: 0), for: v1) }
        #expect(throws: SandboxError.self) { try CgroupPlanner.writes(Limits(memorySwapBytes: 1 << 30), for: v1) }
        #expect(throws: SandboxError.self) { try CgroupPlanner.writes(Limits(memoryBytes: 2 << 20, memorySwapBytes: 1 << 20), for: v1) }
        #expect(throws: SandboxError.self) { try CgroupPlanner.writes(Limits(pids: 0), for: v1) }
    }

    @Test func theExecPlanJoinsTheBoxNamespacesAndMakesNone() throws {
        let box = try Planner.plan(spec(), rootfs: "/img", host: host)
        let namespaces = box.cloneFlags | CloneFlags.newCgroup
        let exec = try Planner.planExec(spec { $0.command = ["/bin/ls"] }, namespaces: namespaces, host: host)
        #expect(exec.cloneFlags == namespaces && exec.ops.isEmpty && exec.newRoot == nil && exec.argv == ["/bin/ls"])
        let shared = try Planner.planExec(spec { $0.network = .host }, namespaces: namespaces, host: host)
        #expect(shared.cloneFlags & CloneFlags.newNet == 0)
    }
}
