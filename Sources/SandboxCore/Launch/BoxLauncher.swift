#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage

/// What a launch needs besides its plan: where the box's group, output,
/// events, gate and network come from. Every way gradebox starts something
/// (a one-shot run, a warm box, `create`, `exec`) is one of these.
struct LaunchRequest {
    var plan: LaunchPlan

    enum Group {
        case none
        /// A group made for this box under this name, removed with it.
        case own(String)
        /// A warm-pool slot's group and network namespace, given back with the box.
        case slot
        /// The group of a box that exists (exec): joined, neither written nor removed.
        case joined(CgroupHandle?)
        /// A group kept for reuse (a pooled `BoxGroup`'s member): its limits
        /// written, not removed; `giveBack` returns it once the box is released.
        case reused(CgroupHandle)
    }
    var group: Group = .none
    /// A reused group holds these limits already: they are not written again.
    var limitsInPlace = false
    /// The group's cgroup.procs files, open already and kept by their owner
    /// (a pooled group's member): neither opened nor closed by the launch.
    var procs: [FileDescriptor]?

    enum Output {
        /// Pipes the supervisor reads.
        case pipes
        /// Appended to these files: a detached program outlives the launch, so nobody would read a pipe.
        case files(stdout: String, stderr: String)
    }
    var output: Output = .pipes
    /// With `.pipes`: a stream given the caller's descriptor here gets it
    /// itself instead of a pipe (`OutputTarget.handOver`), not closed by the launch.
    var handedOver: (stdout: FileDescriptor?, stderr: FileDescriptor?) = (nil, nil)
    /// The init's events go to this file instead of a pipe (a created box, whose events outlive this process).
    var eventsFile: String?

    enum Gate {
        case none
        /// The init waits until a byte comes through this FIFO (`start`).
        case fifo(String)
        /// The init waits for its program (`ProgramMessage`) on a pipe: a warm box.
        case program
    }
    var gate: Gate = .none

    enum Input {
        /// /dev/null.
        case null
        /// The child reads this descriptor of ours as it is (a regular file, /dev/null).
        case inherit(FileDescriptor)
        /// A pipe whose write end the supervisor feeds (`LaunchIO.stdin`).
        case pipe
    }
    var stdin: Input = .null

    enum Network {
        /// The plan's clone makes the box's network namespace, or the box shares the host's.
        case plan
        /// The box joins its pool slot's namespace.
        case slot
        /// The box joins the namespace `job` is making beside it.
        case madeBeside(NetworkNamespaceJob)
        /// The box joins the namespace bound at this path (a pooled group member's slot).
        case bound(String)
        /// The box joins the namespace open at this descriptor, kept by its owner (a pooled group member's).
        case held(FileDescriptor)
    }
    var network: Network = .plan

    /// Start the program in the running box whose init this is (exec), instead of cloning a new box.
    var into: FileDescriptor?
    var mountTemplate: FileDescriptor?
    /// Only the program joins the group, and the init stays outside (a one-shot box: see `finish`).
    var cgroupByProgram = false
    /// The init's image to exec once the program runs (`CCore.reaperImage`): it shares our memory until then.
    var reaper: FileDescriptor?
    var dieWithParent = true
    /// Called once the box is released (or its launch rolled back): a reused group's member goes back.
    var giveBack: (@Sendable () -> Void)?

    init(_ plan: LaunchPlan) { self.plan = plan }
}

/// A launched box (or program), and everything held for it until `release`.
struct LaunchedBox: @unchecked Sendable {
    /// The box's init (or the exec'd program); nil when `enter` could not fork it (its FAILED event says why).
    var process: LaunchedProcess?
    /// Set once the descriptors are open.
    var io: LaunchIO!
    var group: CgroupHandle?
    var slot: PoolSlot?
    /// The group was made for this box: `release` removes it.
    var ownsGroup = false
    /// What `release` gives back last (`LaunchRequest.giveBack`).
    var giveBack: (@Sendable () -> Void)?
}

/// What a launch has made so far, undone in reverse order unless committed:
/// the one place a failed launch (or a failure right after it, such as a
/// created box that never reports ready) is rolled back. The caller owns it,
/// runs it in a `defer`, and commits once the box is its own to keep.
struct Rollback {
    private var undo: [() -> Void] = []

    mutating func add(_ action: @escaping () -> Void) { undo.append(action) }

    mutating func commit() { undo.removeAll() }

    mutating func run() {
        for action in undo.reversed() { action() }
        undo.removeAll()
    }
}

/// The one launch sequence: named steps in the order the kernel needs
/// them, each registering its undo, used by run, warm boxes, create and exec.
///
/// 1. acquire the group: make one, or take a pool slot (its group and network namespace);
/// 2. apply the limits: the plan's cgroup writes, before anyone joins the group;
/// 3. open the descriptors: events, output, stdin, the gate, the group's cgroup.procs;
/// 4. join the network: the slot's namespace, or the one made beside the box;
/// 5. spawn: clone the init (or fork into a running box), then close the child's ends
///    so the supervisor sees end-of-file;
/// then the caller supervises, and `release` gives everything back.
struct BoxLauncher {
    let sys: any Syscalls
    let cgroups: (any CgroupDriver)?
    /// Why there is no driver, for the error of a box that needs one.
    let cgroupProblem: String?
    let slots: SlotPool?

    func requireCgroups() throws(SandboxError) -> any CgroupDriver {
        guard let cgroups else {
            throw .hostUnsupported("limits on memory, CPU and pids need a cgroup gradebox can write: \(cgroupProblem ?? "none found")")
        }
        return cgroups
    }

    /// Runs the sequence; `step` is told the caller-visible step names as they
    /// are done ("cgroup", "descriptors"). On failure everything this made is
    /// undone by `rollback` (the caller's `defer`), in reverse order.
    func launch(_ r: LaunchRequest, rollback: inout Rollback, step: (String) -> Void = { _ in }) throws(SandboxError) -> LaunchedBox {
        // 1. Acquire the group.
        var box = LaunchedBox(process: nil, io: nil)
        var applies = false
        switch r.group {
        case .none: break
        case .own(let name):
            let driver = try requireCgroups()
            let group = try driver.create(name: name)
            rollback.add { try? driver.remove(group) }
            box.group = group
            box.ownsGroup = true
            applies = true
        case .slot:
            guard let slots else { throw SlotPool.noCgroups }
            let slot = try slots.acquire()
            rollback.add { slots.release(slot) }
            box.slot = slot
            box.group = slot.cgroup
            applies = true
        case .joined(let group):
            box.group = group
        case .reused(let group):
            box.group = group
            applies = !r.limitsInPlace
        }
        if let giveBack = r.giveBack {
            rollback.add { giveBack() }
            box.giveBack = giveBack
        }
        // 2. Apply the limits.
        if applies, let group = box.group {
            try requireCgroups().apply(r.plan.cgroupWrites, to: group)
            step("cgroup")
        }

        // 3. Open the descriptors.
        let sys = self.sys
        let io = LaunchIO(sys: sys)
        rollback.add { io.closeAll() }
        try io.open(r, group: box.group)

        // 4. Join the network.
        switch r.network {
        case .plan: break
        case .slot:
            if let slot = box.slot { io.joinNetwork(try sys.open(slot.networkNamespace, O_RDONLY)) }
        case .madeBeside(let job):
            io.joinNetwork(madeBy: job)
        case .bound(let path):
            io.joinNetwork(try sys.open(path, O_RDONLY))
        case .held(let fd):
            io.descriptors.networkNamespace = fd
        }
        io.descriptors.mountTemplate = r.mountTemplate
        io.descriptors.reaper = r.reaper
        io.descriptors.cgroupByProgram = r.cgroupByProgram
        io.descriptors.dieWithParent = r.dieWithParent
        step("descriptors")

        // 5. Spawn.
        if let initPidfd = r.into {
            box.process = try sys.enter(initPidfd: initPidfd, r.plan, io.descriptors)
        } else {
            box.process = try sys.spawn(r.plan, io.descriptors)
        }
        if let child = box.process { rollback.add { sys.end(child) } }
        io.closeChildEnds()
        box.io = io
        return box
    }

    /// Gives back what a launch held, on every path, in this order: the
    /// box's own group first, beside the init's teardown (anything the
    /// program left running is killed with it); the init reaped unless it
    /// was already (when, and its usage, are returned); the descriptors
    /// closed; a slot given back once the init has left its network
    /// namespace too. `kill`: end the init first (a warm box retired). A
    /// failed removal is thrown after all of that.
    @discardableResult
    func release(_ box: LaunchedBox, kill: Bool = false, reaped: Bool) throws(SandboxError) -> (ns: Int64, usage: rusage)? {
        if kill, !reaped, let child = box.process { sys.signal(child.pidfd, SIGKILL) }
        var removal: SandboxError?
        if box.ownsGroup, let group = box.group, let driver = cgroups {
            do throws(SandboxError) { try driver.remove(group) } catch { removal = error }
        }
        var reaping: (ns: Int64, usage: rusage)?
        if let child = box.process {
            if !reaped, let (_, usage) = try? sys.wait(child.pid) { reaping = (Kernel.monotonicNs(), usage) }
            sys.close(child.pidfd)
        }
        box.io?.closeAll()
        if let slot = box.slot { slots?.release(slot) }
        box.giveBack?()
        if let removal { throw removal }
        return reaping
    }
}
