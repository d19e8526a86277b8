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
import Synchronization

/// gradebox's container manager: one-shot runs and the create / start /
/// exec / stop / delete lifecycle, with state under `stateDirectory`.
public struct Sandbox: Sendable {
    public static let defaultStateDirectory = "/run/gradebox"
    public let stateDirectory: String
    public let images: ImageStore
    /// A pooled run leaves a box made ahead of time for the next run of its
    /// shape, in this process. A process that runs one box and ends (the CLI)
    /// turns this off: the box would be made on its time, and die with it.
    /// Pooled runs still take their cgroup and network namespace from the pool.
    public var makesWarmBoxes = true

    public init(stateDirectory: String = Sandbox.defaultStateDirectory, images: ImageStore = ImageStore()) {
        self.stateDirectory = stateDirectory
        self.images = images
    }

    /// Creates a box, runs `spec.command` in it to the end, and deletes the box.
    /// A failing program is a result (RE, SG, TO, MLE, OLE), not an error; a
    /// failing sandbox is a result too (XX, naming the step). Errors are
    /// thrown for requests that cannot be run at all (bad spec, missing image,
    /// command not in the image).
    ///
    /// The set-up (a bounded burst of syscalls, a few milliseconds at most)
    /// and the first `inlineWaitNs` of the program run on the calling task's
    /// thread, where most grading programs end; a program still running then
    /// is watched from a thread of its own, so a long run never holds a
    /// cooperative thread. Handing every run to a thread and back cost a warm
    /// run 0.2-0.4 ms here, two wake-ups of an idle CPU.
    /// - Parameter pool: take the cgroup and network namespace from the warm pool.
    public func run(_ spec: SandboxSpec, pool: Bool = false) async throws(SandboxError) -> RunResult {
        var running = try launch(spec, pool: pool)
        if let result = try running.finish(until: Kernel.monotonicNs() + Sandbox.inlineWaitNs) { return result }
        let rest = running
        return try await onOwnThread { () throws(SandboxError) -> RunResult in
            var running = rest
            return try running.finish(until: nil)!
        }
    }

    /// How long `run` waits for a program on the caller's thread before it hands the watch to a thread of its own.
    static let inlineWaitNs: Int64 = 3_000_000

    /// The same as `run`, on the calling thread (the CLI's path: no thread hop).
    public func runBlocking(_ spec: SandboxSpec, pool usePool: Bool = false) throws(SandboxError) -> RunResult {
        var running = try launch(spec, pool: usePool)
        return try running.finish(until: nil)!
    }

    /// Plans the box and starts it: in a warm box when the run is pooled and
    /// one of its shape is ready, else cold (from a pool slot when pooled).
    func launch(_ spec: SandboxSpec, pool usePool: Bool) throws(SandboxError) -> RunningBox {
        let t0 = Kernel.monotonicNs()
        var steps: [StepTime] = []
        func step(_ name: String) { steps.append(StepTime(step: name, ms: ms(Kernel.monotonicNs() - t0))) }
        // First of all, so that it is made while everything up to the clone is.
        let network = !usePool && spec.network == .none && geteuid() == 0 && spec.userNamespace != .always
            ? NetworkNamespaceJob.begin() : nil
        let runtime = try Runtime.shared(stateDirectory)
        step("runtime")
        let rootfs = try images.rootfsPath(spec.image)
        let template = Planner.mayUseMountTemplate(spec, host: runtime.host) ? runtime.templates?.descriptor(for: rootfs) : nil
        // Planned (and so validated) before anything is made: a bad spec leaves nothing.
        let (plan, warmPlan) = try runtime.plan(spec, rootfs: rootfs, joinsNetwork: spec.network == .none && (usePool || network != nil),
                                                pooled: usePool && makesWarmBoxes, mountTemplate: template != nil)
        step("planned")
        // A pooled run takes a warm box of its shape when one is ready, and
        // leaves one made for the next run; a program too large for the gate runs cold.
        let warmShape = warmPlan?.message == nil ? nil : warmPlan?.shape
        if let warmShape, let message = warmPlan?.message,
           let running = try launchWarm(spec, plan, message: message, shape: warmShape, runtime: runtime, since: t0, steps: steps) {
            return running
        }

        // Resources acquired below are released in reverse order if the launch fails; after it, by `finish`.
        var slot: PoolSlot?
        var group: CgroupHandle?
        var ownGroup = false
        var launched = false
        defer {
            if !launched {
                if let slot { runtime.pool.release(slot) }
                else if ownGroup, let group { try? runtime.cgroups?.remove(group) }
            }
        }
        if usePool {
            slot = try runtime.pool.acquire()
            group = slot!.cgroup
            try runtime.requireCgroups().apply(spec.limits, to: group!)
        } else if spec.limits.needsCgroup {
            let driver = try runtime.requireCgroups()
            group = try driver.create(name: "\(runtime.groupPrefix)-\(getpid())-\(Runtime.nextSerial())")
            ownGroup = true
            try driver.apply(spec.limits, to: group!)
        }
        if group != nil { step("cgroup") }

        var io = try LaunchIO("box", joining: group)
        defer { if !launched { io.closeAll() } }
        if let slot { try io.joinNetwork(of: slot, spec.network) }
        if let network { io.joinNetwork(madeBy: network) }
        // Only the program in the group: it can go as soon as the program is done (see `finish`).
        io.descriptors.cgroupByProgram = true
        // Its init shares our memory until the program runs (see reaper.c).
        if let reaper = Launcher.reaperImage { io.descriptors.reaper = reaper }
        if plan.mountTemplate != nil, let template { io.descriptors.mountTemplate = template }
        step("descriptors")

        // The box's clock starts at the clone. Not when the spawn returns: an
        // init sharing our memory returns only once its program runs.
        let tSpawned = Kernel.monotonicNs()
        let child = try Launcher.spawn(plan, io.descriptors)
        io.closeChildEnds()

        let driver = runtime.cgroups
        var supervisor = Supervisor(
            pid: child.pid, pidfd: child.pidfd, events: io.events, stdout: io.stdout, stderr: io.stderr,
            limits: spec.limits,
            cpuUsage: group.flatMap { g in driver.map { d in { try? d.cpuUsageNanoseconds(g) } } },
            kill: { Kernel.signal(pidfd: child.pidfd, SIGKILL) },
            startNs: tSpawned, statusFromEvent: true)
        supervisor.doneAtExitEvent = true
        launched = true
        return RunningBox(spec: spec, plan: plan, runtime: runtime, t0: t0, steps: steps, launched: tSpawned,
                          supervisor: supervisor,
                          resources: .cold(slot: slot, group: group, ownGroup: ownGroup, io: io, child: child,
                                           network: network, warmShape: warmShape))
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
            try Kernel.writeAll(box.gate, message, "warm box gate")
        } catch {
            // Its init is gone (killed from outside): replace it and run cold.
            runtime.warm.replace(box, shape: shape, plan: plan, spec: spec)
            return nil
        }
        let driver = runtime.cgroups
        let group = box.slot.cgroup
        let pidfd = box.child.pidfd
        var supervisor = Supervisor(
            pid: box.child.pid, pidfd: pidfd, events: box.io.events, stdout: box.io.stdout, stderr: box.io.stderr,
            limits: spec.limits,
            cpuUsage: driver.map { d in { try? d.cpuUsageNanoseconds(group) } },
            kill: { Kernel.signal(pidfd: pidfd, SIGKILL) },
            startNs: tSent, statusFromEvent: true)
        supervisor.doneAtExitEvent = true
        return RunningBox(spec: spec, plan: plan, runtime: runtime, t0: t0, steps: steps, launched: tSent,
                          supervisor: supervisor, resources: .warm(box, shape: shape))
    }

    /// The judged result with its phases and steps. `launched`: the box's
    /// clock starts (the clone, or the program sent to a warm box);
    /// `supervised`: the supervisor is done, cleanup begins.
    static func result(_ outcome: Supervisor.Outcome, plan: LaunchPlan, spec: SandboxSpec, stats: CgroupStats?,
                       steps: [StepTime], begun t0: Int64, launched: Int64, supervised: Int64,
                       ended: Int64) throws(SandboxError) -> RunResult {
        var phases = PhaseTimes()
        phases.create = ms(launched - t0)
        let started = outcome.startedNs ?? outcome.exitedNs
        phases.start = ms(max(0, started - launched))
        phases.exec = ms(max(0, outcome.exitedNs - started))
        phases.delete = ms(max(0, ended - supervised))
        var result = try judge(outcome, plan: plan, spec: spec, stats: stats, phases: phases,
                               wallMs: ms(max(0, outcome.exitedNs - launched)))
        result.steps = steps + outcome.steps(since: t0) + [StepTime(step: "exited", ms: ms(outcome.exitedNs - t0))]
        // The box's init gone (its mounts and namespaces with it); a warm box's is left to the pool's worker.
        if let reaped = outcome.reapedNs, reaped >= outcome.exitedNs { result.steps! += [StepTime(step: "reaped", ms: ms(reaped - t0))] }
        result.steps! += [StepTime(step: "deleted", ms: ms(ended - t0))]
        return result
    }

    /// Turns what the supervisor saw into a verdict. Order matters: a limit
    /// we enforced explains a kill better than the signal it left behind.
    static func judge(_ o: Supervisor.Outcome, plan: LaunchPlan, spec: SandboxSpec, stats: CgroupStats?,
                      phases: PhaseTimes, wallMs: Double) throws(SandboxError) -> RunResult {
        var r = RunResult(verdict: .XX, stdout: o.stdout, stderr: o.stderr, outputDroppedBytes: o.droppedBytes,
                          phases: phases, cpuMs: 0, wallMs: wallMs)
        r.cpuMs = stats.map { Double($0.cpuUsageNanoseconds) / 1e6 } ?? o.usage.cpuMs
        r.memoryPeakBytes = stats?.memoryPeakBytes ?? UInt64(max(0, o.usage.ru_maxrss)) * 1024
        if let status = o.waitStatus {
            if status & 0x7f == 0 {
                r.exitCode = (status >> 8) & 0xff
            } else {
                r.signal = status & 0x7f
            }
        }
        if let (step, e) = o.failure {
            if step == CS_STEP_EXEC.rawValue && (e == ENOENT || e == ENOTDIR) {
                throw .commandNotFound(plan.argv.first ?? "", image: spec.image)
            }
            r.failure = SandboxFailure(step: Launcher.stepName(step, in: plan), errno: e)
            r.verdict = .XX
            return r
        }
        if let killed = o.killedFor {
            r.verdict = killed
        } else if let stats, stats.oomKills > 0 {
            r.verdict = .MLE
        } else if let sig = r.signal {
            // SIGXCPU is the per-process CPU backstop firing: a time limit.
            r.verdict = sig == SIGXCPU ? .TO : .SG
        } else if let code = r.exitCode {
            r.verdict = code == 0 ? .OK : .RE
        } else {
            // The init died without reporting the program's end: not the program's doing.
            r.failure = SandboxFailure(step: "init (pid 1 of the box) ended without an exit report", errno: 0)
            r.verdict = .XX
        }
        if let cpu = spec.limits.cpuTimeSeconds, r.verdict != .OK, r.verdict != .TO, r.cpuMs > cpu * 1000 {
            r.verdict = .TO
        }
        return r
    }
}

/// A launched run: what is left to watch, judge and clean up. `finish`
/// releases everything on every path, once.
struct RunningBox: @unchecked Sendable {
    let spec: SandboxSpec
    let plan: LaunchPlan
    let runtime: Runtime
    let t0: Int64
    let steps: [StepTime]
    /// The box's clock starts: the clone, or the program sent to a warm box.
    let launched: Int64
    var supervisor: Supervisor
    let resources: Resources

    enum Resources {
        /// A box cloned for this run, in a slot (pooled) or its own cgroup; a
        /// pooled run of a shape with no ready box leaves one made (`warmShape`).
        /// `network`: the namespace made beside the box, kept until the box is done with it.
        case cold(slot: PoolSlot?, group: CgroupHandle?, ownGroup: Bool, io: LaunchIO, child: LaunchedProcess,
                  network: NetworkNamespaceJob?, warmShape: WarmBoxes.Shape?)
        /// A warm box: retired and replaced by the pool's worker, off the run's path.
        case warm(WarmBoxes.Box, shape: WarmBoxes.Shape)
    }

    /// Watches the box until it is done, then judges it and cleans up; nil
    /// when `deadline` (monotonic ns) came first (nothing released: call again).
    mutating func finish(until deadline: Int64?) throws(SandboxError) -> RunResult? {
        switch resources {
        case .cold(let slot, let group, let ownGroup, var io, let child, _, let warmShape):
            var outcome: Supervisor.Outcome
            do throws(SandboxError) {
                guard let done = try supervisor.run(until: deadline) else { return nil }
                outcome = done
            } catch {
                Kernel.signal(pidfd: child.pidfd, SIGKILL)
                _ = try? release(slot: slot, group: group, ownGroup: ownGroup, io: &io, child: child, reaped: false)
                throw error
            }
            // The program has ended and been reaped by the init; the init itself
            // may still be tearing the box down. Only the program was in the
            // group, so its numbers are final: read them before it goes.
            let tSupervised = Kernel.monotonicNs()
            let stats = group.flatMap { g in runtime.cgroups.flatMap { try? $0.stats(g) } }
            if let reaping = try release(slot: slot, group: group, ownGroup: ownGroup, io: &io, child: child, reaped: outcome.reaped) {
                outcome.reaped = true
                (outcome.reapedNs, outcome.usage) = reaping
            }
            let result = try Sandbox.result(outcome, plan: plan, spec: spec, stats: stats, steps: steps,
                                            begun: t0, launched: launched, supervised: tSupervised, ended: Kernel.monotonicNs())
            if let warmShape { runtime.warm.replace(nil, shape: warmShape, plan: plan, spec: spec) }
            return result
        case .warm(var box, let shape):
            let outcome: Supervisor.Outcome
            do throws(SandboxError) {
                guard let done = try supervisor.run(until: deadline) else { return nil }
                outcome = done
            } catch {
                runtime.warm.replace(box, shape: shape, plan: plan, spec: spec)
                throw error
            }
            let tSupervised = Kernel.monotonicNs()
            let group = box.slot.cgroup
            let stats = runtime.cgroups.flatMap { try? $0.stats(group) }
            // Reaped already (the init failed or was killed): the worker must not wait for its pid again.
            box.reaped = outcome.reaped
            runtime.warm.replace(box, shape: shape, plan: plan, spec: spec)
            return try Sandbox.result(outcome, plan: plan, spec: spec, stats: stats, steps: steps,
                                      begun: t0, launched: launched, supervised: tSupervised, ended: Kernel.monotonicNs())
        }
    }

    /// A cold box's end, on every path: its own group goes first, beside the
    /// init's teardown (anything the program left running is killed with it);
    /// then the init is reaped unless it was already (when, and its usage, are
    /// returned), the descriptors closed, and a slot given back once the init
    /// has left its network namespace too. A failed removal is thrown after all of that.
    private func release(slot: PoolSlot?, group: CgroupHandle?, ownGroup: Bool, io: inout LaunchIO,
                         child: LaunchedProcess, reaped: Bool) throws(SandboxError) -> (ns: Int64, usage: rusage)? {
        var removal: SandboxError?
        if slot == nil, ownGroup, let group, let driver = runtime.cgroups {
            do throws(SandboxError) { try driver.remove(group) } catch { removal = error }
        }
        var reaping: (ns: Int64, usage: rusage)?
        if !reaped, let (_, usage) = try? Kernel.wait(child.pid) { reaping = (Kernel.monotonicNs(), usage) }
        io.closeAll()
        Kernel.close(child.pidfd)
        if let slot { runtime.pool.release(slot) }
        if let removal { throw removal }
        return reaping
    }
}

func ms(_ ns: Int64) -> Double { Double(ns) / 1e6 }

/// What a process learns about the host once and reuses for every box:
/// host facts, the compiled seccomp filter, the cgroup driver, the pool.
final class Runtime: Sendable {
    let host: HostFacts
    let seccompProgram: [SockFilter]
    let cgroups: (any CgroupDriver)?
    let cgroupProblem: String?
    let pool: WarmPool
    /// Boxes made ahead of time for pooled runs in this process.
    let warm: WarmBoxes
    /// The images' mount templates (root only).
    let templates: MountTemplates?
    let stateDirectory: String
    /// Prefix of this state directory's box cgroups: `box-<hash of the state directory>`,
    /// so two state directories never take (or gc) each other's groups.
    let groupPrefix: String

    private static let instances = Mutex<[String: Runtime]>([:])
    private static let serial = Atomic<UInt64>(0)

    static func shared(_ stateDirectory: String) throws(SandboxError) -> Runtime {
        try instances.withLock { (table: inout [String: Runtime]) throws(SandboxError) -> Runtime in
            if let r = table[stateDirectory] { return r }
            let r = try Runtime(stateDirectory: stateDirectory)
            table[stateDirectory] = r
            return r
        }
    }

    static func nextSerial() -> UInt64 {
        serial.add(1, ordering: .relaxed).newValue
    }

    private init(stateDirectory: String) throws(SandboxError) {
        self.stateDirectory = stateDirectory
        self.groupPrefix = "box-" + stableHash(stateDirectory)
        let mnt = stateDirectory + "/.mnt"
        for dir in [stateDirectory, mnt, mnt + "/root", mnt + "/scratch"] {
            if mkdir(dir, 0o755) < 0 && errno != EEXIST { throw .syscall("mkdir(\(dir))", errno: errno) }
        }
        host = HostFacts(
            euid: geteuid(), egid: getegid(), rootMountPoint: mnt + "/root", scratchMountPoint: mnt + "/scratch",
            userNamespacesAvailable: Runtime.userNamespacesAvailable())
        seccompProgram = try SeccompCache.program(in: stateDirectory, arch: .native) { () throws(SandboxError) in
            try SeccompPolicy.gradeboxDefault.compile(for: .native)
        }
        do throws(SandboxError) {
            cgroups = try HostCgroups.driver(stateDirectory: stateDirectory)
            cgroupProblem = nil
        } catch {
            cgroups = nil
            cgroupProblem = error.description
        }
        pool = WarmPool(directory: stateDirectory + "/pool", cgroups: cgroups)
        templates = host.isRoot ? MountTemplates(stateDirectory: stateDirectory, mountPoint: host.rootMountPoint) : nil
        warm = WarmBoxes(pool: pool, cgroups: cgroups, templates: templates)
    }

    /// The last plans made: a grader or the benchmark runs the same spec over
    /// and over, planning is pure, and building ~40 mount ops of strings was
    /// ~0.06 ms of a warm run. A spec is compared whole before a plan is reused.
    /// The newest last. A struct, not a tuple, and appended, not inserted at
    /// the front: a tuple's metadata and insert's CollectionOfOne are built
    /// at run time on first use, in a `gradebox run` process that plans once.
    private let plans = Mutex<[KnownPlan]>([])
    static let plansKept = 8

    private struct KnownPlan {
        var spec: SandboxSpec
        var rootfs: String
        var joinsNetwork: Bool
        var mountTemplate: Bool
        var plan: LaunchPlan
        var warm: WarmPlan?
    }

    /// What a pooled run of a plan needs besides it: the shape of warm box it
    /// fits, and its program as the message for a warm box's gate (nil: too
    /// large for one). Derived from the plan, so kept with it: building them
    /// was ~0.04 ms of every warm run.
    struct WarmPlan {
        var shape: WarmBoxes.Shape
        var message: [UInt8]?

        init(_ plan: LaunchPlan, _ spec: SandboxSpec) {
            shape = WarmBoxes.shape(plan, spec)
            message = ProgramMessage.encode(plan)
        }
    }

    func plan(_ spec: SandboxSpec, rootfs: String, joinsNetwork: Bool, pooled: Bool,
              mountTemplate: Bool) throws(SandboxError) -> (plan: LaunchPlan, warm: WarmPlan?) {
        let known = plans.withLock { list -> (LaunchPlan, WarmPlan?)? in
            guard let i = list.lastIndex(where: {
                $0.joinsNetwork == joinsNetwork && $0.mountTemplate == mountTemplate && $0.rootfs == rootfs && $0.spec == spec
            }) else { return nil }
            if pooled && list[i].warm == nil {
                list[i].warm = WarmPlan(list[i].plan, spec)
            }
            return (list[i].plan, list[i].warm)
        }
        if let known { return (known.0, pooled ? known.1 : nil) }
        let plan = try Planner.plan(spec, rootfs: rootfs, host: host, joinsNetwork: joinsNetwork, seccomp: seccompProgram,
                                    mountTemplate: mountTemplate)
        let warm = pooled ? WarmPlan(plan, spec) : nil
        plans.withLock { list in
            list.append(KnownPlan(spec: spec, rootfs: rootfs, joinsNetwork: joinsNetwork, mountTemplate: mountTemplate, plan: plan, warm: warm))
            if list.count > Self.plansKept { list.removeFirst() }
        }
        return (plan, warm)
    }

    func requireCgroups() throws(SandboxError) -> any CgroupDriver {
        guard let cgroups else {
            throw .hostUnsupported("limits on memory, CPU and pids need a cgroup gradebox can write: \(cgroupProblem ?? "none found")")
        }
        return cgroups
    }

    /// On bytes: a String split here was a good part of a `gradebox run`'s start (its first use).
    static func userNamespacesAvailable() -> Bool {
        guard let bytes = try? Kernel.readFile("/proc/sys/user/max_user_namespaces") else { return false }
        var n = 0
        var digits = 0
        for b in bytes {
            guard b >= 0x30 && b <= 0x39 else { break }
            n = n &* 10 &+ Int(b - 0x30)
            digits += 1
        }
        return digits > 0 && n > 0
    }
}


/// FNV-1a of `text` as 8 hex digits: short, stable across runs and processes.
func stableHash(_ text: String) -> String {
    var hash: UInt32 = 2_166_136_261
    for byte in text.utf8 {
        hash ^= UInt32(byte)
        hash = hash &* 16_777_619
    }
    // Digit by digit: String(_:radix:) and String(repeating:) first used here
    // cost ~0.05 ms of every `gradebox run` process.
    var digits = [UInt8](repeating: 0, count: 8)
    for i in 0..<8 {
        let nibble = UInt8(truncatingIfNeeded: hash >> UInt32(28 - 4 * i)) & 0xF
        digits[i] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
    }
    return String(decoding: digits, as: UTF8.self)
}
