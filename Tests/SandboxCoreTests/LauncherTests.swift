import Testing
import SystemPackage
@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

/// A v1 host as the recording door sees it: memory and pids hierarchies,
/// gradebox's parent groups made.
private func v1Host() -> (RecordingSyscalls, CgroupV1) {
    let sys = RecordingSyscalls(directories: ["/cg", "/cg/memory", "/cg/memory/gradebox", "/cg/pids", "/cg/pids/gradebox"])
    let driver = CgroupV1(layout: CgroupLayout(v1: ["memory": "/cg/memory", "pids": "/cg/pids"]), fs: sys)
    return (sys, driver)
}

private func plan(_ driver: CgroupV1, _ edit: (inout SandboxSpec) -> Void = { _ in }) throws -> LaunchPlan {
    var spec = SandboxSpec(image: "minimal", command: ["/bin/echo", "hello"])
    spec.limits.memoryBytes = 64 << 20
    spec.limits.pids = 16
    edit(&spec)
    let host = HostFacts(euid: 0, egid: 0, rootMountPoint: "/run/gb/.mnt/root", scratchMountPoint: "/run/gb/.mnt/scratch",
                         userNamespacesAvailable: true, cgroups: driver.features)
    return try Planner.plan(spec, rootfs: "/img", host: host)
}

/// Runs a launch the way every caller does: roll-back in a defer, commit when `keep`.
private func launch(_ launcher: BoxLauncher, _ request: LaunchRequest, keep: Bool = true,
                    after: (LaunchedBox) throws(SandboxError) -> Void = { _ in }) throws(SandboxError) -> LaunchedBox {
    var rollback = Rollback()
    defer { rollback.run() }
    let box = try launcher.launch(request, rollback: &rollback)
    try after(box)
    if keep { rollback.commit() }
    return box
}

/// The counters a v1 reset reads, in pool slot `index`'s group: without them the reset fails.
private func counters(_ sys: RecordingSyscalls, _ pool: SlotPool, _ index: Int) {
    let group = "/cg/memory/gradebox/\(pool.groupName(index))"
    sys.setFile(group + "/memory.oom_control", "oom_kill 0\n")
    sys.setFile(group + "/memory.max_usage_in_bytes", "4096\n")
}

/// Position of the first call for which `matches` holds, for order checks.
private func index(_ calls: [KernelCall], _ matches: (KernelCall) -> Bool) -> Int? { calls.firstIndex(where: matches) }

@Suite("the launch sequence, through the recording door")
struct LauncherTests {
    @Test func aColdLaunchMakesTheGroupWritesLimitsOpensThenSpawns() throws {
        let (sys, driver) = v1Host()
        let launcher = BoxLauncher(sys: sys, cgroups: driver, cgroupProblem: nil, slots: nil)
        var request = LaunchRequest(try plan(driver))
        request.group = .own("box-1")
        var steps: [String] = []
        var rollback = Rollback()
        let box = try launcher.launch(request, rollback: &rollback) { steps.append($0) }
        rollback.commit()
        #expect(steps == ["cgroup", "descriptors"])
        let calls = sys.changes
        let spawn = try #require(index(calls) { if case .spawn = $0 { true } else { false } })
        let limit = try #require(index(calls) { $0 == .write("/cg/memory/gradebox/box-1/memory.limit_in_bytes", String(64 << 20)) })
        let made = try #require(index(calls) { $0 == .mkdir("/cg/pids/gradebox/box-1") })
        let procs = try #require(index(calls) { $0 == .open("/cg/pids/gradebox/box-1/cgroup.procs") })
        #expect(made < limit && limit < procs && procs < spawn)
        #expect(calls.contains(.write("/cg/pids/gradebox/box-1/pids.max", "16")))
        #expect(box.ownsGroup && box.group?.name == "box-1")
        // The child's ends are closed by now: only our read ends, /dev/null, the procs files and the pidfd stay open.
        #expect(sys.openDescriptors.count == 3 + 1 + 2 + 1)

        try launcher.release(box, reaped: false)
        #expect(sys.openDescriptors.isEmpty)
        #expect(sys.unreapedProcesses.isEmpty)
        #expect(!sys.hasDirectory("/cg/memory/gradebox/box-1") && !sys.hasDirectory("/cg/pids/gradebox/box-1"))
        // The group goes first, beside the init's teardown; then the init is reaped.
        let after = sys.changes
        let removed = try #require(index(after) { $0 == .rmdir("/cg/memory/gradebox/box-1") })
        let reaped = try #require(index(after) { if case .wait = $0 { true } else { false } })
        #expect(removed < reaped)
    }

    /// Each step failing in turn: what was made before it is undone, in reverse order, and nothing else.
    @Test(arguments: ["mkdir", "write", "pipe", "open", "spawn", "after"])
    func aFailureAtEachStepRollsBackWhatWasMade(_ failing: String) throws {
        let (sys, driver) = v1Host()
        let launcher = BoxLauncher(sys: sys, cgroups: driver, cgroupProblem: nil, slots: nil)
        var request = LaunchRequest(try plan(driver))
        request.group = .own("box-1")
        switch failing {
        case "mkdir": sys.fail("mkdir", "/cg/pids/gradebox/box-1", errno: EACCES)
        case "write": sys.fail("write", "/cg/pids/gradebox/box-1/pids.max", errno: EACCES)
        case "pipe": sys.fail("pipe", "box stderr", errno: EMFILE)
        case "open": sys.fail("open", "/cg/pids/gradebox/box-1/cgroup.procs", errno: EMFILE)
        case "spawn": sys.fail("spawn", "/bin/echo", errno: ENOMEM)
        default: break
        }
        #expect(throws: SandboxError.self) {
            _ = try launch(launcher, request) { _ throws(SandboxError) in
                // A failure after the spawn (a created box that never reports ready): the box goes too.
                if failing == "after" { throw .setupFailed(SandboxFailure(step: "ready", errno: 0)) }
            }
        }
        #expect(sys.openDescriptors.isEmpty, "left open: \(sys.openDescriptors)")
        #expect(sys.unreapedProcesses.isEmpty)
        #expect(!sys.hasDirectory("/cg/memory/gradebox/box-1") && !sys.hasDirectory("/cg/pids/gradebox/box-1"))

        let calls = sys.changes
        let madeGroup = index(calls) { $0 == .mkdir("/cg/memory/gradebox/box-1") }
        let removedGroup = index(calls) { $0 == .rmdir("/cg/memory/gradebox/box-1") }
        let spawned = index(calls) { if case .spawn = $0 { true } else { false } }
        let killed = index(calls) { if case .signal(_, SIGKILL) = $0 { true } else { false } }
        let lastClose = calls.lastIndex { if case .close = $0 { true } else { false } }
        // Whatever was made is unmade after everything made later was.
        #expect((madeGroup != nil) == (removedGroup != nil))
        if failing == "after" {
            let k = try #require(killed), c = try #require(lastClose), r = try #require(removedGroup)
            #expect(try #require(spawned) < k && k < c && c < r, "\(calls)")
        } else {
            #expect(killed == nil, "nothing was spawned, nothing is killed")
            if let c = lastClose, let r = removedGroup { #expect(c < r, "descriptors close before the group goes: \(calls)") }
        }
    }

    @Test func aCreateShapedLaunchMakesItsGateAndFilesAndUndoesThem() throws {
        let (sys, driver) = v1Host()
        sys.addDirectory("/state/boxes/b")
        let launcher = BoxLauncher(sys: sys, cgroups: driver, cgroupProblem: nil, slots: nil)
        var request = LaunchRequest(try plan(driver) { $0.limits = Limits() })
        request.output = .files(stdout: "/state/boxes/b/stdout", stderr: "/state/boxes/b/stderr")
        request.eventsFile = "/state/boxes/b/events"
        request.gate = .fifo("/state/boxes/b/start")
        request.dieWithParent = false
        sys.fail("spawn", "/bin/echo", errno: EAGAIN)
        #expect(throws: SandboxError.syscall("clone3(mnt,pid,ipc,uts,net)", errno: EAGAIN)) { _ = try launch(launcher, request) }
        #expect(sys.changes.contains(.mkfifo("/state/boxes/b/start")))
        #expect(sys.openDescriptors.isEmpty)
        #expect(!sys.changes.contains { if case .mkdir = $0 { true } else { false } }, "a box without limits has no group")
    }

    @Test func execJoinsTheBoxGroupAndNeverWritesOrRemovesIt() throws {
        let (sys, driver) = v1Host()
        let launcher = BoxLauncher(sys: sys, cgroups: driver, cgroupProblem: nil, slots: nil)
        let group = CgroupHandle(name: "box-n-b", procsFiles: ["/cg/memory/gradebox/box-n-b/cgroup.procs"], directory: nil)
        sys.setFile("/cg/memory/gradebox/box-n-b/cgroup.procs", "")
        var request = LaunchRequest(try plan(driver))
        request.into = FileDescriptor(rawValue: 42)
        request.group = .joined(group)
        let box = try launch(launcher, request)
        try launcher.release(box, reaped: false)
        let calls = sys.changes
        #expect(calls.contains(.enter(argv0: "/bin/echo")) && !calls.contains { if case .spawn = $0 { true } else { false } })
        #expect(!calls.contains { if case .write = $0 { true } else if case .rmdir = $0 { true } else { false } })
        #expect(sys.openDescriptors.isEmpty)
    }

    @Test func aBoxThatNeedsACgroupOnAHostWithoutOneIsRefusedBeforeAnythingIsMade() throws {
        let (sys, driver) = v1Host()
        let launcher = BoxLauncher(sys: sys, cgroups: nil, cgroupProblem: "no cgroup here", slots: nil)
        var request = LaunchRequest(try plan(driver))
        request.group = .own("box-1")
        #expect(throws: SandboxError.hostUnsupported("limits on memory, CPU and pids need a cgroup gradebox can write: no cgroup here")) {
            _ = try launch(launcher, request)
        }
        #expect(sys.changes.isEmpty)
    }

    @Test func aPooledLaunchTakesASlotAndAFailedOneGivesItBack() throws {
        let (sys, driver) = v1Host()
        sys.addDirectory("/state")
        let pool = SlotPool(directory: "/state/pool", cgroups: driver, sys: sys)
        let launcher = BoxLauncher(sys: sys, cgroups: driver, cgroupProblem: nil, slots: pool)
        var request = LaunchRequest(try plan(driver))
        request.group = .slot
        request.network = .slot
        // The counters the slot's reset reads, when the failed launch gives it back.
        counters(sys, pool, 0)
        sys.fail("spawn", "/bin/echo", errno: ENOMEM)
        #expect(throws: SandboxError.self) { _ = try launch(launcher, request) }
        // Open still: the slot's lock (idle, this process's) and the group's counters, kept open for every box.
        let kept = sys.openDescriptors
        #expect(kept.count == 3, "the launch's own descriptors are closed: \(kept)")

        // The slot is free again, and ready: the next launch takes it without making anything.
        sys.clearOperations()
        let box = try launch(launcher, request)
        #expect(box.slot?.index == 0)
        #expect(!sys.changes.contains { if case .makeNetworkNamespace = $0 { true } else if case .mkdir(let p) = $0 { p.hasPrefix("/cg/") } else { false } })
        #expect(sys.changes.contains(.open("/state/pool/net-0")))
        try launcher.release(box, reaped: false)
        #expect(sys.openDescriptors == kept)
    }
}

@Suite("the warm pool's slots, through the recording door")
struct SlotPoolTests {
    @Test func slotsAreMadeOnceSharedByLockAndDrained() throws {
        let (sys, driver) = v1Host()
        sys.addDirectory("/state")
        let pool = SlotPool(directory: "/state/pool", cgroups: driver, sys: sys)
        let first = try pool.acquire()
        let second = try pool.acquire()
        #expect(first.index == 0 && second.index == 1, "a held slot is skipped")
        #expect(sys.isNamespaceFile("/state/pool/net-0") && sys.isNamespaceFile("/state/pool/net-1"))
        #expect(sys.exists("/state/pool/slot-0.ready"))
        #expect(SlotFile.decode(sys.file("/state/pool/slot-0.cgroup") ?? "")?.name == pool.groupName(0))
        counters(sys, pool, 0)
        counters(sys, pool, 1)

        pool.release(first)
        sys.clearOperations()
        let again = try pool.acquire()
        #expect(again.index == 0)
        #expect(!sys.changes.contains { if case .makeNetworkNamespace = $0 { true } else { false } }, "a ready slot is reused as it is")
        pool.release(again)
        pool.release(second)

        #expect(pool.drain() == 2)
        #expect(!sys.isNamespaceFile("/state/pool/net-0") && !sys.exists("/state/pool/slot-1.ready"))
        #expect(!sys.hasDirectory("/cg/memory/gradebox/\(pool.groupName(0))"))
        #expect(sys.openDescriptors.isEmpty)
    }

    /// A slot given back stays locked by this process: a child cloned by
    /// another thread meanwhile could hold an unlocked slot's lock through
    /// its copy of the descriptor, and the next box here would make a slot.
    @Test func aSlotGivenBackStaysThisProcesssForItsNextBox() throws {
        let (sys, driver) = v1Host()
        sys.addDirectory("/state")
        let pool = SlotPool(directory: "/state/pool", cgroups: driver, sys: sys)
        let slot = try pool.acquire()
        counters(sys, pool, 0)
        pool.release(slot)
        #expect(sys.changes.contains(.write("/cg/memory/gradebox/\(pool.groupName(0))/memory.max_usage_in_bytes", "0")), "reset when given back")

        // Another process on the same directory finds it busy: its lock is held.
        let other = SlotPool(directory: "/state/pool", cgroups: driver, sys: sys)
        #expect(try other.acquire().index == 1)

        // This process takes it back without opening, locking or making anything.
        sys.clearOperations()
        let again = try pool.acquire()
        #expect(again.index == 0 && again.networkNamespace == "/state/pool/net-0")
        #expect(!sys.changes.contains { if case .open = $0 { true } else if case .lock = $0 { true } else { false } }, "\(sys.changes)")

        // Drained, it is unlocked and removed; the other process's slot is left alone.
        pool.release(again)
        #expect(pool.drain() == 1)
        #expect(!sys.exists("/state/pool/slot-0.ready") && sys.exists("/state/pool/slot-1.ready"))
    }

    @Test func aSlotWhoseResetFailsIsMadeAgainByItsNextTaker() throws {
        let (sys, driver) = v1Host()
        sys.addDirectory("/state")
        let pool = SlotPool(directory: "/state/pool", cgroups: driver, sys: sys)
        pool.release(try pool.acquire())  // no counters: the reset fails
        #expect(sys.openDescriptors.isEmpty)
        #expect(!sys.exists("/state/pool/slot-0.ready"))
        sys.clearOperations()
        #expect(try SlotPool(directory: "/state/pool", cgroups: driver, sys: sys).acquire().index == 0)
        #expect(sys.changes.contains(.makeNetworkNamespace("/state/pool/net-0")))
        #expect(sys.exists("/state/pool/slot-0.ready"))
    }

    @Test(arguments: [false, true])
    func aSlotWhoseNamespaceWasTakenAwayIsMadeAgain(_ idle: Bool) throws {
        let (sys, driver) = v1Host()
        sys.addDirectory("/state")
        let pool = SlotPool(directory: "/state/pool", cgroups: driver, sys: sys)
        let slot = try pool.acquire()
        if idle { counters(sys, pool, 0) }
        pool.release(slot)
        sys.detach("/state/pool/net-0")
        sys.clearOperations()
        let again = try pool.acquire()
        #expect(again.index == 0)
        #expect(sys.changes.contains(.makeNetworkNamespace("/state/pool/net-0")))
        #expect(sys.isNamespaceFile("/state/pool/net-0"))
    }
}
