#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage
import Synchronization

/// Whole boxes made ahead of time, for `Sandbox.run(_:pool: true)` in a
/// long-lived process (a grading agent, the benchmark): SOCK's warm pool
/// taken one step further, as OpenWhisk's pre-warmed containers do. A warm
/// box has everything but its program: a pool slot (cgroup with the limits
/// written, network namespace), its init cloned into new namespaces, the
/// mount table built, the root pivoted. Its init waits at a gate for a
/// `ProgramMessage`, then starts the program like any box's init.
///
/// A run takes a box whose shape (everything but the program and the
/// per-run limits) matches its own; afterwards one worker thread retires
/// the used box (waits for its init, resets the slot) and makes the next
/// one, off the run's path. A shape with no ready box runs cold, from the
/// slot pool. Boxes are children of the worker thread with
/// PR_SET_PDEATHSIG: they die with this process, and `drain` ends them sooner.
final class WarmBoxes: Sendable {
    /// One box waiting at its gate, and what its launch holds (a slot, our ends of its descriptors).
    struct Box: @unchecked Sendable {
        let shape: Shape
        var launched: LaunchedBox
        /// Its init was reaped by whoever ran it: nothing to wait for.
        var reaped = false

        var child: LaunchedProcess { launched.process! }
        var io: LaunchIO { launched.io }
        var slot: PoolSlot { launched.slot! }
        /// Write end of the gate: the program message goes here (closed with `io`).
        var gate: FileDescriptor { launched.io.gate! }
    }

    private enum Job {
        case retire(Box)
        case make(shape: Shape, plan: LaunchPlan, spec: SandboxSpec)
    }

    /// Shapes kept warm at once; the least recently made beyond this are retired.
    static let maximumShapes = 8

    private let ready = Mutex<[(shape: Shape, box: Box)]>([])
    private let jobs = Mutex<[Job]>([])
    /// Jobs queued or running: zero when the worker is idle.
    private let pending = Atomic<Int>(0)
    private let worker = Mutex<(read: Int32, write: Int32)?>(nil)
    private let launcher: BoxLauncher
    private let templates: MountTemplates?

    init(launcher: BoxLauncher, templates: MountTemplates?) {
        self.launcher = launcher
        self.templates = templates
    }

    /// What must match for a box to serve a run: the plan without its program
    /// part, the network, and the limits the cgroup holds. Compared field by
    /// field: a described plan (String(describing:)) cost a third of a warm run.
    struct Shape: Equatable, Sendable {
        var cloneFlags: UInt64
        var unshareCgroupNamespace: Bool
        var loopbackUp: Bool
        var uidMap: String?
        var gidMap: String?
        /// The image, when the ops are relative to its mount template (they do not name it then).
        var mountTemplate: String?
        var ops: [MountOp]
        var newRoot: String?
        var hostname: String?
        var workdir: String
        var network: NetworkMode
        var limits: Limits
        /// The box's init loads the filter before its gate (off the run's
        /// path: a load took ~0.15 ms here, the kernel compiling it).
        var seccomp: [SockFilter]
    }

    static func shape(_ plan: LaunchPlan, _ spec: SandboxSpec) -> Shape {
        var limits = spec.limits
        limits.cpuTimeSeconds = nil
        limits.cpuTimeKillSeconds = nil
        limits.wallTimeSeconds = nil
        limits.outputBytes = nil
        limits.stdoutBytes = nil
        limits.stderrBytes = nil
        limits.onOutputLimit = nil
        return Shape(cloneFlags: plan.cloneFlags, unshareCgroupNamespace: plan.unshareCgroupNamespace,
                     loopbackUp: plan.loopbackUp, uidMap: plan.uidMap, gidMap: plan.gidMap,
                     mountTemplate: plan.mountTemplate, ops: plan.ops,
                     newRoot: plan.newRoot, hostname: plan.hostname, workdir: plan.workdir, network: spec.network,
                     limits: limits, seccomp: plan.seccomp)
    }

    /// A ready box of this shape, now the caller's.
    func take(_ shape: Shape) -> Box? {
        ready.withLock { list in
            guard let i = list.firstIndex(where: { $0.shape == shape }) else { return nil }
            return list.remove(at: i).box
        }
    }

    /// Retires a used (or refused) box and makes the next of its shape, on the worker.
    func replace(_ used: Box?, shape: Shape, plan: LaunchPlan, spec: SandboxSpec) {
        var queued: [Job] = []
        if let used { queued.append(.retire(used)) }
        queued.append(.make(shape: shape, plan: plan, spec: spec))
        pending.add(queued.count, ordering: .sequentiallyConsistent)
        jobs.withLock { $0 += queued }
        wakeWorker()
    }

    /// Waits until the worker has done every queued job (tests, and callers
    /// that want the next run to find its box).
    func settle(timeoutSeconds: Double = 10) {
        let deadline = Kernel.monotonicNs() + Int64(timeoutSeconds * 1e9)
        while pending.load(ordering: .sequentiallyConsistent) > 0 && Kernel.monotonicNs() < deadline { launcher.sys.pause(microseconds: 200) }
    }

    /// Ends every ready box and frees its slot. Returns how many there were.
    @discardableResult
    func drain() -> Int {
        let boxes = ready.withLock { list in
            defer { list.removeAll() }
            return list.map(\.box)
        }
        boxes.forEach(retire)
        return boxes.count
    }

    // MARK: the worker

    private func wakeWorker() {
        let fd = worker.withLock { state -> Int32 in
            if let state { return state.write }
            guard let p = try? Kernel.pipe("warm-box worker") else { return -1 }
            let wakeRead = p.read
            if case .failure = startThread("warm-box worker", { [self] in self.work(wakeRead) }) {
                Kernel.close(p.read)
                Kernel.close(p.write)
                return -1
            }
            state = p
            return p.write
        }
        if fd >= 0 { try? Kernel.writeAll(fd, [0x77], "warm-box worker wake-up") }
    }

    /// Runs for the life of the process: the boxes it makes die with their
    /// parent thread (PR_SET_PDEATHSIG), so that thread must not end early.
    private func work(_ wake: Int32) {
        var byte: UInt8 = 0
        while true {
            while true {
                let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                guard let job else { break }
                defer { pending.subtract(1, ordering: .sequentiallyConsistent) }
                switch job {
                case .retire(let box): retire(box)
                case .make(let shape, let plan, let spec):
                    guard let box = try? make(shape: shape, plan: plan, spec: spec) else { continue }
                    let evicted = ready.withLock { list -> [Box] in
                        // One box per shape: a second would only hold a slot.
                        if list.contains(where: { $0.shape == shape }) { return [box] }
                        list.append((shape, box))
                        let over = max(0, list.count - Self.maximumShapes)
                        let old = list.prefix(over).map(\.box)
                        list.removeFirst(over)
                        return old
                    }
                    evicted.forEach(retire)
                }
            }
            _ = withUnsafeMutableBytes(of: &byte) { try? Kernel.read(wake, into: $0, "warm-box worker wake-up") }
        }
    }

    /// Makes a box of `plan` in a pool slot and leaves it at its gate; nothing is left on failure.
    private func make(shape: Shape, plan: LaunchPlan, spec: SandboxSpec) throws(SandboxError) -> Box {
        guard let cgroups = launcher.cgroups else { throw SlotPool.noCgroups }
        var request = LaunchRequest(plan)
        request.group = .slot
        request.gate = .program
        request.network = spec.network == .none ? .slot : .plan
        // Its init shares our memory and execs the reaper's image as its gate
        // (no page tables copied, none of our pages left copy-on-write); where
        // there is no such image, it is a copy of this process waiting at the gate.
        request.reaper = CCore.reaperImage
        if let image = plan.mountTemplate {
            guard let template = templates?.descriptor(for: image) else {
                throw .setupFailed(SandboxFailure(step: "mount template of \(image)", errno: ENOENT))
            }
            request.mountTemplate = template
        }
        var rollback = Rollback()
        defer { rollback.run() }
        var launched = try launcher.launch(request, rollback: &rollback)
        let event = readLaunchEvent(launched.io.events)
        guard event?.kind == Int32(CS_EV_READY.rawValue) else {
            throw .setupFailed(SandboxFailure(step: event.map { StepNaming(plan).name($0.step) } ?? "warm box init ended", errno: event?.err ?? 0))
        }
        // The making used CPU and memory in the slot's group: the program's count starts now.
        try? cgroups.reset(&launched.slot!.cgroup)
        rollback.commit()
        return Box(shape: shape, launched: launched)
    }

    /// Ends a box (its init exits by itself after its program; this makes
    /// sure), waits for it, closes our ends and returns its slot to the pool.
    private func retire(_ box: Box) {
        _ = try? launcher.release(box.launched, kill: true, reaped: box.reaped)
    }
}
