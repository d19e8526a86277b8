#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CSandbox
import SystemPackage

/// The thesis's Appendix A lifecycle. A created box is its init, set up and
/// waiting at a start gate (a FIFO in the box's state folder); `start` opens
/// the gate; `exec` joins the box's namespaces; `stop` kills the init, which
/// ends the pid namespace and everything in it; `delete` removes the cgroup
/// and the state. Nothing is mounted on the host: every mount lives in the
/// box's own mount namespace and goes with it.
extension Sandbox {
    /// Sets a box up and leaves its init waiting for `start`.
    public func create(name: String, spec: SandboxSpec) async throws(SandboxError) {
        let sandbox = self
        try await onOwnThread { () throws(SandboxError) in try sandbox.createBlocking(name: name, spec: spec) }
    }

    public func createBlocking(name: String, spec: SandboxSpec) throws(SandboxError) {
        try BoxStore.validate(name: name)
        let runtime = try Runtime.shared(stateDirectory)
        let sys = runtime.sys
        let store = BoxStore(stateDirectory: stateDirectory, sys: sys)
        let rootfs = try images.rootfsPath(spec.image)
        try runtime.checkMountSources(spec)
        let plan = try Planner.plan(spec, rootfs: rootfs, host: runtime.host, seccomp: runtime.seccompProgram)
        do throws(SandboxError) { try sys.mkdir(store.directory, mode: 0o700) } catch where cgroupErrno(error) == EEXIST {}
        let dir = store.path(name)
        do throws(SandboxError) { try sys.mkdir(dir, mode: 0o700) } catch where cgroupErrno(error) == EEXIST { throw .containerExists(name) }
        // Undone unless the box comes up: nothing of a failed create is left.
        var rollback = Rollback()
        defer { rollback.run() }
        rollback.add { sys.removeTree(dir) }

        var request = LaunchRequest(plan)
        if spec.limits.needsCgroup { request.group = .own("\(runtime.groupPrefix)-n-\(name)") }
        request.output = .files(stdout: dir + "/stdout", stderr: dir + "/stderr")
        request.eventsFile = dir + "/events"
        request.gate = .fifo(dir + "/start")
        request.dieWithParent = false
        let launched = try runtime.launcher.launch(request, rollback: &rollback)
        let child = launched.process!
        let events = try waitForEvent(dir: dir, pidfd: child.pidfd, kinds: [CS_EV_READY, CS_EV_FAILED], sys: sys)
        if let failed = events.last(where: { $0.kind == Int32(CS_EV_FAILED.rawValue) }) {
            throw Judge.launchError(step: failed.step, errno: failed.err, naming: StepNaming(plan), command: spec.command[0],
                                    image: spec.image, otherwise: "")
        }
        let record = BoxRecord(
            name: name, spec: spec, initPid: child.pid, initStartTime: sys.processStartTime(child.pid) ?? 0,
            cgroup: launched.group, namespaces: plan.cloneFlags | CloneFlags.newCgroup | (spec.network == .none ? CloneFlags.newNet : 0),
            createdAt: Date().timeIntervalSince1970, workdir: plan.workdir, environment: plan.environment)
        try store.save(record)
        rollback.commit()
        // The box is on its own now: our descriptors go, the init keeps its copies.
        launched.io.closeAll()
        sys.close(child.pidfd)
    }

    /// Opens the start gate: the box's init forks the program. Returns once
    /// the program passed execve (or failed to).
    public func start(name: String) async throws(SandboxError) {
        let sandbox = self
        try await onOwnThread { () throws(SandboxError) in try sandbox.startBlocking(name: name) }
    }

    public func startBlocking(name: String) throws(SandboxError) {
        let sys = try Runtime.shared(stateDirectory).sys
        let store = BoxStore(stateDirectory: stateDirectory, sys: sys)
        let record = try store.load(name)
        let dir = store.path(name)
        let events = readEvents(dir, sys)
        if events.contains(where: { $0.kind == Int32(CS_EV_STARTED.rawValue) }) {
            throw .invalidRequest("box \(name) is already started")
        }
        guard let pidfd = sys.openProcess(record.initPid, startedAt: record.initStartTime) else {
            throw .invalidRequest("box \(name) is not running (its init is gone); delete it")
        }
        defer { sys.close(pidfd) }
        let gate = try sys.open(dir + "/start", O_WRONLY | O_NONBLOCK)
        defer { sys.close(gate) }
        try sys.writeAll(gate, [1], "start gate of \(name)")
        let after = try waitForEvent(dir: dir, pidfd: pidfd, kinds: [CS_EV_STARTED, CS_EV_FAILED], sys: sys)
        if let failed = after.last(where: { $0.kind == Int32(CS_EV_FAILED.rawValue) }) {
            // Only the program's steps come after the gate: named from the record, not a new plan.
            let naming = StepNaming(workdir: record.workdir, user: record.spec.user, program: record.spec.command[0])
            throw Judge.launchError(step: failed.step, errno: failed.err, naming: naming, command: record.spec.command[0],
                                    image: record.spec.image, otherwise: "")
        }
    }

    /// Runs `command` inside a created or running box, with the box's
    /// isolation and `limits` on top (time, output; memory, CPU and pids are
    /// the box's cgroup's), and waits for it.
    public func exec(name: String, command: [String], limits: Limits = Limits(), stdin: StandardInput = .none,
                     stdout: OutputTarget = .capture, stderr: OutputTarget = .capture) async throws(SandboxError) -> RunResult {
        let sandbox = self
        return try await onOwnThread { () throws(SandboxError) -> RunResult in
            try sandbox.execBlocking(name: name, command: command, limits: limits, stdin: stdin, stdout: stdout, stderr: stderr)
        }
    }

    public func execBlocking(name: String, command: [String], limits: Limits = Limits(), stdin: StandardInput = .none,
                             stdout: OutputTarget = .capture, stderr: OutputTarget = .capture) throws(SandboxError) -> RunResult {
        let t0 = Kernel.monotonicNs()
        let target = try ExecTarget(self, name: name, command: command, limits: limits)
        defer { target.runtime.sys.close(target.initPidfd) }
        var rollback = Rollback()
        defer { rollback.run() }
        let input = InputRoute(stdin)
        let launched = try target.launch(output: .pipes, input: input.launch, handedOver: OutputRoute.handedOver(stdout: stdout, stderr: stderr),
                                         rollback: &rollback)
        let tSpawned = Kernel.monotonicNs()
        defer { _ = try? target.runtime.launcher.release(launched, reaped: true) }
        guard let program = launched.process else {
            let error = target.launchFailure(readLaunchEvent(launched.io.events))
            // A sandbox failure is a verdict here, as for `run`; a missing command stays an error.
            if case .setupFailed(let failure) = error { return RunResult(verdict: .XX, failure: failure) }
            throw error
        }
        rollback.commit()
        // CPU time counts in the box's group, from now: without the group's count
        // only the per-process backstop (a second past the limit) would stop it.
        var cpuUsage: (() -> UInt64?)?
        if let group = target.record.cgroup, let driver = target.runtime.cgroups, let base = try? driver.cpuUsageNanoseconds(group) {
            cpuUsage = { (try? driver.cpuUsageNanoseconds(group)).map { $0 >= base ? $0 - base : 0 } }
        }
        var supervisor = Supervisor(
            pid: program.pid, pidfd: program.pidfd, events: launched.io.events, stdout: launched.io.stdout, stderr: launched.io.stderr,
            limits: target.spec.limits, cpuUsage: cpuUsage,
            kill: { [sys = target.runtime.sys] in
                // Its process group: what it forked goes with it.
                try? sys.kill(-program.pid, signal: SIGKILL)
                sys.signal(program.pidfd, SIGKILL)
            },
            startNs: tSpawned, statusFromEvent: false)
        input.attach(to: &supervisor, launched.io)
        supervisor.send(stdout: stdout, stderr: stderr)
        let outcome = try supervisor.run()
        var phases = PhaseTimes()
        let started = outcome.startedNs ?? outcome.exitedNs
        phases.exec = ms(outcome.exitedNs - t0)
        var result = try Judge.verdict(outcome, plan: target.plan, spec: target.spec, stats: nil, phases: phases,
                                       wallMs: ms(outcome.exitedNs - started))
        result.stdinBytes = input.bytesTaken(outcome)
        return result
    }

    /// Starts `command` inside a running box and returns its pid (in the
    /// host's pid namespace) once it has passed execve, without waiting for
    /// it: a server, for example. Its output is appended to the box's logs
    /// (`logs(name:)`); it ends when it exits or when the box is stopped.
    /// This process reaps it on a thread of its own, so a long-lived caller
    /// collects no zombies.
    public func execDetached(name: String, command: [String]) async throws(SandboxError) -> Int32 {
        let sandbox = self
        return try await onOwnThread { () throws(SandboxError) -> Int32 in
            try sandbox.execDetachedBlocking(name: name, command: command)
        }
    }

    public func execDetachedBlocking(name: String, command: [String]) throws(SandboxError) -> Int32 {
        let target = try ExecTarget(self, name: name, command: command, limits: Limits())
        defer { target.runtime.sys.close(target.initPidfd) }
        let dir = BoxStore(stateDirectory: stateDirectory).path(name)
        var rollback = Rollback()
        defer { rollback.run() }
        let launched = try target.launch(output: .files(stdout: dir + "/stdout", stderr: dir + "/stderr"), input: .null,
                                         rollback: &rollback)
        guard let program = launched.process else { throw target.launchFailure(readLaunchEvent(launched.io.events)) }
        let event = readLaunchEvent(launched.io.events)
        // The program could not exec: it has exited, or is about to (the roll-back reaps it).
        if event?.kind != Int32(CS_EV_STARTED.rawValue) { throw target.launchFailure(event) }
        rollback.commit()
        // Our ends closed; the program is reaped by a thread of its own.
        launched.io.closeAll()
        reapInBackground(program)
        return program.pid
    }

    /// Stops the box: SIGTERM to its program and `grace` seconds to end, then
    /// SIGKILL to its init, which takes the whole pid namespace with it.
    public func stop(name: String, grace: Double = 0) async throws(SandboxError) {
        let sandbox = self
        try await onOwnThread { () throws(SandboxError) in try sandbox.stopBlocking(name: name, grace: grace) }
    }

    public func stopBlocking(name: String, grace: Double = 0) throws(SandboxError) {
        let sys = try Runtime.shared(stateDirectory).sys
        let record = try BoxStore(stateDirectory: stateDirectory, sys: sys).load(name)
        guard let pidfd = sys.openProcess(record.initPid, startedAt: record.initStartTime) else { return }
        defer { sys.close(pidfd) }
        if grace > 0 {
            sys.signal(pidfd, SIGTERM)
            if try sys.poll([pidfd], timeoutMs: Int32(grace * 1000))[0] != 0 { return }
        }
        sys.signal(pidfd, SIGKILL)
        // Readable once the init has exited, whoever its parent is.
        while try sys.poll([pidfd], timeoutMs: 1000)[0] == 0 {}
    }

    /// Stops the box if it still runs, removes its cgroup and its state.
    public func delete(name: String) async throws(SandboxError) {
        let sandbox = self
        try await onOwnThread { () throws(SandboxError) in try sandbox.deleteBlocking(name: name) }
    }

    public func deleteBlocking(name: String) throws(SandboxError) {
        let runtime = try Runtime.shared(stateDirectory)
        let store = BoxStore(stateDirectory: stateDirectory, sys: runtime.sys)
        let record = try store.load(name)
        try stopBlocking(name: name)
        if let group = record.cgroup {
            try runtime.requireCgroups().remove(group)
        }
        runtime.sys.removeTree(store.path(name))
    }

    /// Every box under the state directory, with its status.
    public func list() throws(SandboxError) -> [BoxInfo] {
        let sys = try Runtime.shared(stateDirectory).sys
        let store = BoxStore(stateDirectory: stateDirectory, sys: sys)
        return store.names().compactMap { name in
            guard let record = try? store.load(name) else { return nil }
            return info(record, dir: store.path(name), sys)
        }
    }

    public func info(name: String) throws(SandboxError) -> BoxInfo {
        let sys = try Runtime.shared(stateDirectory).sys
        let store = BoxStore(stateDirectory: stateDirectory, sys: sys)
        return info(try store.load(name), dir: store.path(name), sys)
    }

    /// The output the box's own program wrote so far (detached boxes log to files).
    public func logs(name: String) throws(SandboxError) -> (stdout: [UInt8], stderr: [UInt8]) {
        let sys = try Runtime.shared(stateDirectory).sys
        let store = BoxStore(stateDirectory: stateDirectory, sys: sys)
        _ = try store.load(name)
        let dir = store.path(name)
        return ((try? sys.readBytes(dir + "/stdout")) ?? [], (try? sys.readBytes(dir + "/stderr")) ?? [])
    }

    private func info(_ record: BoxRecord, dir: String, _ sys: any Syscalls) -> BoxInfo {
        let events = readEvents(dir, sys)
        let alive = sys.openProcess(record.initPid, startedAt: record.initStartTime).map { fd in sys.close(fd); return true } ?? false
        var status: BoxInfo.Status = alive ? .created : .stopped
        if alive && events.contains(where: { $0.kind == Int32(CS_EV_STARTED.rawValue) }) { status = .running }
        var info = BoxInfo(name: record.name, image: record.spec.image, command: record.spec.command, status: status,
                           pid: alive ? record.initPid : nil, createdAt: record.createdAt)
        if let exited = events.last(where: { $0.kind == Int32(CS_EV_EXITED.rawValue) }) {
            info.status = .stopped
            if exited.status & 0x7f == 0 { info.exitCode = (exited.status >> 8) & 0xff } else { info.signal = exited.status & 0x7f }
        }
        return info
    }

    /// Waits until the events file holds one of `kinds`, or the init is gone.
    private func waitForEvent(dir: String, pidfd: FileDescriptor, kinds: [cs_event_kind], sys: any Syscalls) throws(SandboxError) -> [cs_event] {
        let wanted = Set(kinds.map { Int32($0.rawValue) })
        let deadline = Kernel.monotonicNs() + 30_000_000_000
        while true {
            let events = readEvents(dir, sys)
            if events.contains(where: { wanted.contains($0.kind) }) { return events }
            if try sys.poll([pidfd], timeoutMs: 0)[0] != 0 {
                let late = readEvents(dir, sys)
                if late.contains(where: { wanted.contains($0.kind) }) { return late }
                throw .setupFailed(SandboxFailure(step: "box init ended before reporting", errno: 0))
            }
            if Kernel.monotonicNs() > deadline {
                throw .setupFailed(SandboxFailure(step: "box init did not report within 30 s", errno: ETIMEDOUT))
            }
            sys.pause(microseconds: 100)
        }
    }
}

/// What `exec` needs of a box: its record, a pidfd for its init, and the
/// plan of the program to run in it (the box's isolation, joined, not made).
private struct ExecTarget {
    let runtime: Runtime
    let record: BoxRecord
    let initPidfd: FileDescriptor
    let spec: SandboxSpec
    let plan: LaunchPlan

    init(_ sandbox: Sandbox, name: String, command: [String], limits: Limits) throws(SandboxError) {
        guard !command.isEmpty else { throw .invalidRequest("no command given") }
        runtime = try Runtime.shared(sandbox.stateDirectory)
        record = try BoxStore(stateDirectory: sandbox.stateDirectory, sys: runtime.sys).load(name)
        var spec = record.spec
        spec.command = command
        spec.limits.cpuTimeSeconds = limits.cpuTimeSeconds
        spec.limits.cpuTimeKillSeconds = limits.cpuTimeKillSeconds
        spec.limits.wallTimeSeconds = limits.wallTimeSeconds
        spec.limits.outputBytes = limits.outputBytes
        spec.limits.stdoutBytes = limits.stdoutBytes
        spec.limits.stderrBytes = limits.stderrBytes
        spec.limits.onOutputLimit = limits.onOutputLimit
        plan = try Planner.planExec(spec, namespaces: record.namespaces, host: runtime.host, seccomp: runtime.seccompProgram)
        self.spec = spec
        guard let fd = runtime.sys.openProcess(record.initPid, startedAt: record.initStartTime) else {
            throw .invalidRequest("box \(name) is not running (its init is gone)")
        }
        initPidfd = fd
    }

    /// The program, forked into the box and joined to its group.
    func launch(output: LaunchRequest.Output, input: LaunchRequest.Input,
                handedOver: (stdout: FileDescriptor?, stderr: FileDescriptor?) = (nil, nil), rollback: inout Rollback) throws(SandboxError) -> LaunchedBox {
        var request = LaunchRequest(plan)
        request.stdin = input
        request.handedOver = handedOver
        request.into = initPidfd
        request.group = .joined(record.cgroup)
        request.output = output
        return try runtime.launcher.launch(request, rollback: &rollback)
    }

    /// The error for a launch that failed before the program ran, from the FAILED event (nil: none came).
    func launchFailure(_ event: cs_event?) -> SandboxError {
        let failed = event.flatMap { $0.kind == Int32(CS_EV_FAILED.rawValue) ? $0 : nil }
        return Judge.launchError(step: failed?.step, errno: failed?.err ?? 0, naming: StepNaming(plan), command: spec.command[0],
                                 image: spec.image, otherwise: "fork(exec into box)")
    }
}

/// Waits for a detached program on a thread of its own, then closes its
/// pidfd. Without a thread (none could be made) the pidfd is closed at once
/// and the program is reaped by whoever adopts it when this process ends.
private func reapInBackground(_ program: LaunchedProcess) {
    let started = startThread("reaper of \(program.pid)") {
        _ = try? Kernel.wait(program.pid)
        Kernel.live.close(program.pidfd)
    }
    if case .failure = started { Kernel.live.close(program.pidfd) }
}

func readEvents(_ dir: String, _ sys: any Syscalls) -> [cs_event] {
    let bytes = (try? sys.readBytes(dir + "/events")) ?? []
    let size = MemoryLayout<cs_event>.size
    return stride(from: 0, to: bytes.count - size + 1, by: size).map { offset in
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: cs_event.self) }
    }
}
