#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage

extension Sandbox {
    /// Plans the box and starts it: in a warm box when the run is pooled and
    /// one of its shape is ready, else cold (from a pool slot when pooled).
    func launch(_ spec: SandboxSpec, pool: Bool, stdin: StandardInput = .none,
                stdout: OutputTarget = .capture, stderr: OutputTarget = .capture) throws(SandboxError) -> RunningBox {
        let t0 = Kernel.monotonicNs()
        // A box of a group gets its own group below it: pool slots live elsewhere.
        let usePool = pool && spec.group == nil
        var steps: [StepTime] = []
        func step(_ name: String) { steps.append(StepTime(step: name, ms: ms(Kernel.monotonicNs() - t0))) }
        // An empty network namespace of its own, joined rather than cloned
        // (root, not in a user namespace): from the pool, a pooled group's member, or made beside.
        let joinsEmptyNetwork = spec.network == .none && geteuid() == 0 && spec.userNamespace != .always
        // A member of a pooled group brings its network namespace; else it is
        // made first of all, while everything up to the clone is.
        let network = !usePool && spec.group?.pooled != true && joinsEmptyNetwork ? NetworkNamespaceJob.begin() : nil
        let runtime = try Runtime.shared(stateDirectory)
        var member: GroupPool.Taken?
        var giveBack: (@Sendable () -> Void)?
        if let group = spec.group, group.pooled, let driver = runtime.cgroups {
            member = try runtime.groups.member(of: group.name, network: joinsEmptyNetwork, driver: driver, slots: runtime.pool)
            if let index = member?.index {
                let groups = runtime.groups
                giveBack = { groups.giveBack(group.name, index, driver: driver) }
            }
        }
        // Until the launcher holds it (an error before then gives it back here).
        var memberHeld = giveBack
        defer { memberHeld?() }
        step("runtime")
        let rootfs = try images.rootfsPath(spec.image)
        try runtime.checkMountSources(spec)
        let template = Planner.mayUseMountTemplate(spec, host: runtime.host)
            ? runtime.templates?.descriptor(for: rootfs, overlay: spec.rootfs == .overlay) : nil
        // Planned (and so validated) before anything is made: a bad spec leaves nothing.
        let (plan, warmPlan) = try runtime.plan(spec, rootfs: rootfs,
                                                joinsNetwork: spec.network == .none && (usePool || network != nil || member?.networkNamespace != nil),
                                                pooled: usePool && makesWarmBoxes, mountTemplate: template != nil)
        step("planned")
        // A pooled run takes a warm box of its shape when one is ready, and
        // leaves one made for the next run; a program too large for the gate runs cold.
        let warmShape = warmPlan?.message == nil ? nil : warmPlan?.shape
        // A stream handed over is the box's own descriptor: a warm box's were made before its run.
        let handedOver = OutputRoute.handedOver(stdout: stdout, stderr: stderr)
        if let warmShape, let message = warmPlan?.message, stdin == .none, handedOver == (nil, nil),
           var running = try launchWarm(spec, plan, message: message, shape: warmShape, runtime: runtime, since: t0, steps: steps) {
            running.supervisor.send(stdout: stdout, stderr: stderr)
            return running
        }

        var request = LaunchRequest(plan)
        if let member {
            request.group = .reused(member.cgroup)
            request.limitsInPlace = member.applied == plan.cgroupWrites
            request.procs = member.procs
            if let namespace = member.networkNamespace { request.network = member.network.map { .held($0) } ?? .bound(namespace) }
            request.giveBack = giveBack
            memberHeld = nil
        } else if let group = spec.group {
            request.group = .own("\(group.name)/\(getpid())-\(Runtime.nextSerial())")
        } else if usePool {
            request.group = .slot
            request.network = spec.network == .none ? .slot : .plan
        } else if spec.limits.needsCgroup {
            request.group = .own("\(runtime.groupPrefix)-\(getpid())-\(Runtime.nextSerial())")
        }
        if let network { request.network = .madeBeside(network) }
        // Only the program in the group: it can go as soon as the program is done (see `finish`).
        request.cgroupByProgram = true
        // Its init shares our memory until the program runs (see reaper.c).
        request.reaper = CCore.reaperImage
        if plan.mountTemplate != nil { request.mountTemplate = template }
        let input = InputRoute(stdin)
        request.stdin = input.launch
        request.handedOver = handedOver

        var rollback = Rollback()
        defer { rollback.run() }
        // The box's clock starts at the clone. Not when the spawn returns: an
        // init sharing our memory returns only once its program runs.
        var tSpawned: Int64 = 0
        let launched = try runtime.launcher.launch(request, rollback: &rollback) { name in
            step(name)
            if name == "descriptors" { tSpawned = Kernel.monotonicNs() }
        }
        if let member, let group = spec.group, !request.limitsInPlace {
            runtime.groups.noteApplied(group.name, member.index, plan.cgroupWrites)
        }
        var supervisor = Self.supervisor(launched.process!, launched.io, group: launched.group, spec, runtime, since: tSpawned)
        // The program alone goes in the group (cgroupByProgram), after tSpawned; and a
        // group is new or zeroed when a box gets it.
        supervisor.cpuUsageZeroAtStart = true
        input.attach(to: &supervisor, launched.io)
        supervisor.send(stdout: stdout, stderr: stderr)
        rollback.commit()
        return RunningBox(spec: spec, plan: plan, runtime: runtime, t0: t0, steps: steps, launched: tSpawned,
                          supervisor: supervisor, resources: .cold(launched, network: network, warmShape: warmShape), input: input)
    }

    /// A pooled run in a warm box, when one of this shape is ready: the
    /// program is sent through the box's gate. nil: no box was ready (or it
    /// had died), run cold.
    private func launchWarm(_ spec: SandboxSpec, _ plan: LaunchPlan, message: [UInt8], shape: WarmBoxes.Shape, runtime: Runtime,
                            since t0: Int64, steps: [StepTime]) throws(SandboxError) -> RunningBox? {
        guard let box = runtime.warm.take(shape) else { return nil }
        var steps = steps
        steps.append(StepTime(step: "claimed", ms: ms(Kernel.monotonicNs() - t0)))
        let tSent = Kernel.monotonicNs()
        do throws(SandboxError) {
            try Kernel.writeAll(box.gate.rawValue, message, "warm box gate")
        } catch {
            // Its init is gone (killed from outside): replace it and run cold.
            runtime.warm.replace(box, shape: shape, plan: plan, spec: spec)
            return nil
        }
        let supervisor = Self.supervisor(box.child, box.io, group: box.slot.cgroup, spec, runtime, since: tSent)
        return RunningBox(spec: spec, plan: plan, runtime: runtime, t0: t0, steps: steps, launched: tSent,
                          supervisor: supervisor, resources: .warm(box, shape: shape), input: InputRoute(.none))
    }

    /// The watch over a box's init, for a run: done once the init reports the
    /// program's end (the init's own teardown is not the run's to wait for).
    private static func supervisor(_ child: LaunchedProcess, _ io: LaunchIO, group: CgroupHandle?, _ spec: SandboxSpec,
                                   _ runtime: Runtime, since startNs: Int64) -> Supervisor {
        let driver = runtime.cgroups
        let pidfd = child.pidfd
        var supervisor = Supervisor(
            pid: child.pid, pidfd: pidfd, events: io.events, stdout: io.stdout, stderr: io.stderr,
            limits: spec.limits,
            cpuUsage: group.flatMap { g in driver.map { d in { try? d.cpuUsageNanoseconds(g) } } },
            kill: { Kernel.signal(pidfd: pidfd.rawValue, SIGKILL) },
            startNs: startNs, statusFromEvent: true)
        supervisor.doneAtExitEvent = true
        return supervisor
    }
}

/// How a program gets its `StandardInput`: /dev/null; a regular file or
/// /dev/null of the caller's handed over as it is (nothing to relay, and a
/// file's offset tells what was read); anything else through a pipe the
/// supervisor feeds.
struct InputRoute {
    var launch: LaunchRequest.Input = .null
    var relay: Supervisor.Input?
    /// A regular file handed over, and its offset when the run began.
    var file: (fd: Int32, start: Int64)?

    init(_ stdin: StandardInput) {
        switch stdin {
        case .none: break
        case .bytes(let bytes):
            launch = .pipe
            relay = .bytes(bytes)
        case .handOver(let fd) where Kernel.isStream(fd):
            launch = .inherit(FileDescriptor(rawValue: fd))
        case .descriptor(let fd), .handOver(let fd):
            switch Kernel.kind(of: fd) {
            case .regular?:
                launch = .inherit(FileDescriptor(rawValue: fd))
                file = (fd, Kernel.offset(of: fd) ?? 0)
            case .null?:
                launch = .inherit(FileDescriptor(rawValue: fd))
            default:
                launch = .pipe
                relay = .descriptor(fd)
            }
        }
    }

    func attach(to supervisor: inout Supervisor, _ io: LaunchIO) {
        guard let relay, let pipe = io.stdin else { return }
        supervisor.relay(relay, into: pipe, close: { io.closeStdin() })
    }

    /// What the program took of its input.
    func bytesTaken(_ outcome: Supervisor.Outcome) -> Int {
        if let relayed = outcome.stdinBytes { return relayed }
        if let file, let now = Kernel.offset(of: file.fd) { return Int(max(0, now - file.start)) }
        return 0
    }
}

/// Which output streams a box is given the caller's descriptor for
/// (`OutputTarget.handOver`); one that cannot be is written to as `.descriptor` is.
enum OutputRoute {
    /// The descriptors the box gets as its streams, where it gets one.
    static func handedOver(stdout: OutputTarget, stderr: OutputTarget) -> (stdout: FileDescriptor?, stderr: FileDescriptor?) {
        func handed(_ target: OutputTarget) -> FileDescriptor? {
            if case .handOver(let fd) = target, Kernel.isStream(fd) { return FileDescriptor(rawValue: fd) }
            return nil
        }
        return (handed(stdout), handed(stderr))
    }
}
