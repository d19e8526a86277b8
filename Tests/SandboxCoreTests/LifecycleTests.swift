import Testing
import CSandbox
@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

/// A sandbox whose runtime goes through a recording door: a v1 host with
/// memory and pids hierarchies, no real process, no root needed.
private struct FakeHost {
    let sys: RecordingSyscalls
    let sandbox: Sandbox
    let state: String
    let groupPrefix: String

    init() {
        state = "/fake/state-\(UInt64.random(in: 0...UInt64.max))"
        sys = RecordingSyscalls(directories: ["/cg", "/cg/memory", "/cg/memory/gradebox", "/cg/pids", "/cg/pids/gradebox", "/fake", state])
        let driver = CgroupV1(layout: CgroupLayout(v1: ["memory": "/cg/memory", "pids": "/cg/pids"]), fs: sys)
        let host = HostFacts(euid: 0, egid: 0, rootMountPoint: state + "/.mnt/root", scratchMountPoint: state + "/.mnt/scratch",
                             userNamespacesAvailable: true, cgroups: driver.features)
        let runtime = Runtime(stateDirectory: state, sys: sys, host: host, cgroups: driver)
        Runtime.install(runtime)
        groupPrefix = runtime.groupPrefix
        sandbox = Sandbox(stateDirectory: state)
    }

    func box(_ name: String) -> String { "\(state)/boxes/\(name)" }
    func group(_ name: String) -> String { "/cg/memory/gradebox/\(groupPrefix)-n-\(name)" }

    /// What the box's init would have written to its events file.
    func events(_ name: String, _ events: (kind: cs_event_kind, step: Int32, err: Int32)...) {
        var bytes: [UInt8] = []
        for e in events {
            var ev = cs_event()
            ev.kind = Int32(e.kind.rawValue)
            ev.step = e.step
            ev.err = e.err
            withUnsafeBytes(of: &ev) { bytes += $0 }
        }
        sys.setBytes(box(name) + "/events", bytes)
    }
}

private let spec: SandboxSpec = {
    var s = SandboxSpec(image: "/", command: ["/bin/sh"])
    s.limits.memoryBytes = 64 << 20
    return s
}()

@Suite("the lifecycle, through the recording door")
struct LifecycleTests {
    @Test func createLeavesTheBoxRecordedAndItsInitAloneThenDeleteRemovesIt() throws {
        let host = FakeHost()
        host.events("b", (CS_EV_READY, 0, 0))
        try host.sandbox.createBlocking(name: "b", spec: spec)
        #expect(host.sys.file(host.box("b") + "/state.json")?.contains("\"initPid\"") == true)
        #expect(host.sys.hasDirectory(host.group("b")))
        #expect(host.sys.openDescriptors.isEmpty, "the box's descriptors are its init's now: \(host.sys.openDescriptors)")
        #expect(host.sys.changes.contains(.mkfifo(host.box("b") + "/start")))
        #expect(try host.sandbox.info(name: "b").status == .created)

        #expect(throws: SandboxError.containerExists("b")) { try host.sandbox.createBlocking(name: "b", spec: spec) }
        #expect(host.sys.hasDirectory(host.box("b")), "a refused create leaves the existing box alone")

        try host.sandbox.deleteBlocking(name: "b")
        #expect(host.sys.changes.contains { if case .signal(_, SIGKILL) = $0 { true } else { false } })
        #expect(!host.sys.hasDirectory(host.box("b")) && !host.sys.hasDirectory(host.group("b")))
        #expect(host.sys.openDescriptors.isEmpty)
        #expect(throws: SandboxError.containerNotFound("b")) { try host.sandbox.info(name: "b") }
    }

    @Test func aCreateWhoseInitFailsUndoesEverythingInReverseOrder() throws {
        let host = FakeHost()
        host.events("b", (CS_EV_FAILED, 0, EACCES))
        #expect {
            try host.sandbox.createBlocking(name: "b", spec: spec)
        } throws: { error in
            guard case .setupFailed(let f) = error as? SandboxError else { return false }
            return f.errno == EACCES && f.step.hasPrefix("mount(tmpfs")
        }
        let calls = host.sys.changes
        let killed = try #require(calls.firstIndex { if case .signal(_, SIGKILL) = $0 { true } else { false } })
        let reaped = try #require(calls.firstIndex { if case .wait = $0 { true } else { false } })
        let groupGone = try #require(calls.firstIndex { $0 == .rmdir(host.group("b")) })
        let treeGone = try #require(calls.firstIndex { $0 == .removeTree(host.box("b")) })
        #expect(killed < reaped && reaped < groupGone && groupGone < treeGone, "\(calls)")
        #expect(host.sys.openDescriptors.isEmpty && host.sys.unreapedProcesses.isEmpty)
        #expect(!host.sys.hasDirectory(host.box("b")))
    }

    @Test(arguments: ["mkdir", "open", "spawn", "rename"])
    func aCreateThatFailsAtAnyStepLeavesNothing(_ failing: String) throws {
        let host = FakeHost()
        host.events("b", (CS_EV_READY, 0, 0))
        switch failing {
        case "mkdir": host.sys.fail("mkdir", "/cg/pids/gradebox/\(host.groupPrefix)-n-b", errno: ENOSPC)
        case "open": host.sys.fail("open", host.box("b") + "/stderr", errno: EMFILE)
        case "spawn": host.sys.fail("spawn", "/bin/sh", errno: EAGAIN)
        default: host.sys.fail("rename", host.box("b") + "/state.json.tmp", errno: EIO)
        }
        #expect(throws: SandboxError.self) { try host.sandbox.createBlocking(name: "b", spec: spec) }
        #expect(!host.sys.hasDirectory(host.box("b")) && !host.sys.hasDirectory(host.group("b")))
        #expect(host.sys.openDescriptors.isEmpty && host.sys.unreapedProcesses.isEmpty)
        #expect(try host.sandbox.list().isEmpty)
    }

    @Test func startNamesWhatFailedAfterTheGateFromTheRecord() throws {
        let host = FakeHost()
        host.events("b", (CS_EV_READY, 0, 0))
        var s = spec
        s.user = UserID(uid: 1000, gid: 1000)
        try host.sandbox.createBlocking(name: "b", spec: s)
        host.events("b", (CS_EV_READY, 0, 0), (CS_EV_FAILED, CS_STEP_SETID.rawValue, EPERM))
        #expect(throws: SandboxError.setupFailed(SandboxFailure(step: "setresuid(1000:1000)", errno: EPERM))) {
            try host.sandbox.startBlocking(name: "b")
        }
        host.events("b", (CS_EV_READY, 0, 0), (CS_EV_FAILED, CS_STEP_EXEC.rawValue, ENOTDIR))
        #expect(throws: SandboxError.commandNotFound("/bin/sh", image: "/")) { try host.sandbox.startBlocking(name: "b") }
        #expect(host.sys.changes.contains(.write("start gate of b", "\u{01}")))
        host.events("b", (CS_EV_READY, 0, 0), (CS_EV_STARTED, 0, 0))
        #expect(throws: SandboxError.invalidRequest("box b is already started")) { try host.sandbox.startBlocking(name: "b") }
        try host.sandbox.deleteBlocking(name: "b")
    }

    @Test func stoppingABoxWhoseInitIsGoneSignalsNothing() throws {
        let host = FakeHost()
        host.events("b", (CS_EV_READY, 0, 0))
        try host.sandbox.createBlocking(name: "b", spec: spec)
        try host.sandbox.stopBlocking(name: "b")
        host.sys.clearOperations()
        try host.sandbox.stopBlocking(name: "b")
        #expect(!host.sys.changes.contains { if case .signal = $0 { true } else { false } })
        #expect(try host.sandbox.info(name: "b").status == .stopped)
    }
}
