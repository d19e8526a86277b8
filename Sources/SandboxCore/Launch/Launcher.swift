#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// The descriptors a launch hands to the C core, owned by the caller.
package struct LaunchDescriptors {
    package var stdin: Int32 = -1
    package var stdout: Int32 = -1
    package var stderr: Int32 = -1
    /// Where the box's init reports its events.
    package var status: Int32 = -1
    /// Read end of the start gate (detached boxes), or -1 to start at once.
    package var gate: Int32 = -1
    /// The gate brings the program (a `ProgramMessage`), not a byte: a warm box.
    package var gateCarriesProgram = false
    /// Open cgroup.procs files the init writes "0" to (one per v1 hierarchy, one on v2).
    package var cgroupProcs: [Int32] = []
    /// The program writes them instead, the init stays outside the group (a one-shot box).
    package var cgroupByProgram = false
    /// A prepared network namespace to join (warm pool).
    package var networkNamespace: Int32 = -1
    /// Or one being made beside the box: its descriptor number arrives on this pipe...
    package var networkPipe: Int32 = -1
    /// ...and is taken from this pidfd (the caller's own).
    package var parentPidfd: Int32 = -1
    package var dieWithParent = true
    /// The reaper's image (`Launcher.reaperImage`) for a box without a gate:
    /// its init then shares this process's memory until it execs the reaper.
    package var reaper: Int32 = -1
    /// The mount template (`MountTemplates`) of a plan with a `mountTemplate`.
    package var mountTemplate: Int32 = -1
    package init() {}
}

/// A process the C core started: the box's init, or an exec'd program.
package struct LaunchedProcess: Sendable {
    package var pid: pid_t
    package var pidfd: Int32
}

/// Marshals a `LaunchPlan` into the C core's `cs_plan` and calls it. All
/// memory the C side reads is allocated before the clone and freed after it
/// returns in the parent: the child never allocates.
package enum Launcher {
    package static func spawn(_ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess {
        // Without its template such a plan would run its ops on the caller's own mounts.
        guard (plan.mountTemplate != nil) == (fds.mountTemplate >= 0) else {
            throw .invalidRequest("internal: a plan with a mount template needs its descriptor, and only it")
        }
        var child = cs_child()
        let rc = withCPlan(plan, fds) { cplan in cs_spawn(cplan, &child) }
        if rc < 0 { throw .syscall("clone3(\(namespaceNames(plan.cloneFlags)))", errno: -rc) }
        return LaunchedProcess(pid: child.pid, pidfd: child.pidfd)
    }

    /// Starts `plan.argv` inside the box whose init is `initPidfd`; `plan.cloneFlags` names the namespaces to join.
    /// Returns nil when the program could not be forked: the FAILED event on `fds.status` says why.
    package static func enter(initPidfd: Int32, _ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess? {
        var child = cs_child()
        let rc = withCPlan(plan, fds) { cplan in cs_enter(initPidfd, cplan, &child) }
        if rc < 0 { throw .syscall("fork(exec into box)", errno: -rc) }
        if child.pid < 0 { return nil }
        return LaunchedProcess(pid: child.pid, pidfd: child.pidfd)
    }

    /// The reaper's image (reaper.c), made once per process; nil where there
    /// is none (another architecture, no memfd): boxes then clone as before.
    package static let reaperImage: Int32? = {
        let fd = cs_reaper_image_fd()
        return fd >= 0 ? fd : nil
    }()

    /// Names the step a FAILED event points at, using the plan it came from.
    package static func stepName(_ step: Int32, in plan: LaunchPlan) -> String {
        if step >= 0, Int(step) < plan.ops.count { return plan.ops[Int(step)].description }
        switch step {
        case CS_STEP_PIVOT.rawValue: return "pivot_root(\(plan.newRoot ?? ""))"
        case CS_STEP_MOUNT_TEMPLATE.rawValue: return "setns(mount template of \(plan.mountTemplate ?? "?"))"
        case CS_STEP_HOSTNAME.rawValue: return "sethostname(\(plan.hostname ?? ""))"
        case CS_STEP_CHDIR.rawValue: return "chdir(\(plan.workdir))"
        case CS_STEP_SETID.rawValue: return "setresuid(\(plan.ids.map { "\($0.uid):\($0.gid)" } ?? "0:0"))"
        case CS_STEP_EXEC.rawValue: return "execve(\(plan.argv.first ?? ""))"
        default: return stepName(step)
        }
    }

    /// Names a step that needs no plan to be named.
    package static func stepName(_ step: Int32) -> String {
        switch step {
        case CS_STEP_CLONE.rawValue: return "clone3"
        case CS_STEP_USERMAP.rawValue: return "write(/proc/self/uid_map)"
        case CS_STEP_SETNS_NET.rawValue: return "setns(pool network namespace)"
        case CS_STEP_CGROUP_JOIN.rawValue: return "write(cgroup.procs)"
        case CS_STEP_CGROUPNS.rawValue: return "unshare(CLONE_NEWCGROUP)"
        case CS_STEP_LOOPBACK.rawValue: return "ioctl(SIOCSIFFLAGS lo up)"
        case CS_STEP_GATE.rawValue: return "read(start gate)"
        case CS_STEP_FORK.rawValue: return "fork(program)"
        case CS_STEP_STDIO.rawValue: return "dup2(stdio)"
        case CS_STEP_RLIMIT.rawValue: return "setrlimit"
        case CS_STEP_CAPS.rawValue: return "capset(drop)"
        case CS_STEP_NO_NEW_PRIVS.rawValue: return "prctl(PR_SET_NO_NEW_PRIVS)"
        case CS_STEP_SECCOMP.rawValue: return "seccomp(SECCOMP_SET_MODE_FILTER)"
        case CS_STEP_SETNS.rawValue: return "setns(box namespaces)"
        case CS_STEP_PRIVATE_ROOT.rawValue: return "mount(make-rprivate /)"
        case CS_STEP_PGID.rawValue: return "setpgid"
        case CS_STEP_UNSHARE_NET.rawValue: return "unshare(CLONE_NEWNET)"
        case CS_STEP_BIND_NETNS.rawValue: return "mount(bind network namespace)"
        case CS_STEP_REAPER.rawValue: return "execveat(gradebox reaper)"
        case CS_STEP_MOUNT_TEMPLATE.rawValue: return "setns(mount template)"
        default: return "step \(step)"
        }
    }

    static func namespaceNames(_ flags: UInt64) -> String {
        let all: [(UInt64, String)] = [
            (CloneFlags.newUser, "user"), (CloneFlags.newNS, "mnt"), (CloneFlags.newPID, "pid"),
            (CloneFlags.newIPC, "ipc"), (CloneFlags.newUTS, "uts"), (CloneFlags.newNet, "net"),
            (CloneFlags.newCgroup, "cgroup"),
        ]
        return all.filter { flags & $0.0 != 0 }.map(\.1).joined(separator: ",")
    }

    /// Builds an image's mount template (`Planner.mountTemplateOps`); returns its descriptor.
    static func makeMountTemplate(_ ops: [MountOp], mountPoint: String) -> (fd: Int32, failedStep: Int32) {
        var arena = CStringArena()
        defer { arena.free() }
        let cops = cOps(ops, &arena)
        defer { cops.deallocate() }
        var step: Int32 = 0
        let fd = cs_mount_template(cops, Int32(ops.count), mountPoint, &step)
        return (fd, step)
    }

    private static func cOps(_ ops: [MountOp], _ arena: inout CStringArena) -> UnsafeMutablePointer<cs_op> {
        let cops = UnsafeMutablePointer<cs_op>.allocate(capacity: max(ops.count, 1))
        for (i, op) in ops.enumerated() {
            cops[i] = cs_op(
                kind: op.kind.rawValue, optional: op.optional ? 1 : 0,
                source: arena.string(op.source), target: arena.string(op.target),
                fstype: arena.string(op.fstype), data: arena.string(op.data), flags: op.flags)
        }
        return cops
    }

    private static func withCPlan<R>(_ plan: LaunchPlan, _ fds: LaunchDescriptors, _ body: (UnsafePointer<cs_plan>) -> R) -> R {
        var arena = CStringArena()
        defer { arena.free() }
        let ops = cOps(plan.ops, &arena)
        defer { ops.deallocate() }
        let rlimits = UnsafeMutablePointer<cs_rlimit>.allocate(capacity: max(plan.rlimits.count, 1))
        defer { rlimits.deallocate() }
        for (i, r) in plan.rlimits.enumerated() {
            rlimits[i] = cs_rlimit(resource: r.resource, soft: r.soft, hard: r.hard)
        }
        let procs = UnsafeMutablePointer<Int32>.allocate(capacity: max(fds.cgroupProcs.count, 1))
        defer { procs.deallocate() }
        for (i, fd) in fds.cgroupProcs.enumerated() { procs[i] = fd }
        let filter = UnsafeMutablePointer<SockFilter>.allocate(capacity: max(plan.seccomp.count, 1))
        defer { filter.deallocate() }
        for (i, f) in plan.seccomp.enumerated() { filter[i] = f }

        var c = cs_plan()
        c.clone_flags = plan.cloneFlags
        c.cgroup_procs_fds = UnsafePointer(procs)
        c.n_cgroup_procs_fds = Int32(fds.cgroupProcs.count)
        c.unshare_cgroupns = plan.unshareCgroupNamespace ? 1 : 0
        c.cgroup_by_program = fds.cgroupByProgram ? 1 : 0
        c.netns_fd = fds.networkNamespace
        c.netns_pipe_fd = fds.networkPipe
        c.parent_pidfd = fds.parentPidfd
        c.loopback_up = plan.loopbackUp ? 1 : 0
        c.uid_map = arena.string(plan.uidMap)
        c.gid_map = arena.string(plan.gidMap)
        c.mount_template_fd = fds.mountTemplate
        c.ops = UnsafePointer(ops)
        c.n_ops = Int32(plan.ops.count)
        c.new_root = arena.string(plan.newRoot)
        c.hostname = arena.string(plan.hostname)
        c.workdir = arena.string(plan.workdir)
        c.gate_fd = fds.gate
        c.gate_program = fds.gateCarriesProgram ? 1 : 0
        c.die_with_parent = fds.dieWithParent ? 1 : 0
        c.reaper_fd = fds.reaper
        c.rlimits = UnsafePointer(rlimits)
        c.n_rlimits = Int32(plan.rlimits.count)
        c.set_ids = plan.ids == nil ? 0 : 1
        c.uid = plan.ids?.uid ?? 0
        c.gid = plan.ids?.gid ?? 0
        c.caps_keep = plan.capabilitiesKept
        c.seccomp_filter = plan.seccomp.isEmpty ? nil : UnsafeRawPointer(filter)
        c.seccomp_len = UInt16(plan.seccomp.count)
        c.argv = arena.array(plan.argv)
        c.envp = arena.array(plan.environment)
        c.path = arena.array(plan.searchPath)
        c.stdin_fd = fds.stdin
        c.stdout_fd = fds.stdout
        c.stderr_fd = fds.stderr
        c.status_fd = fds.status
        return withUnsafePointer(to: &c) { body($0) }
    }
}

/// C strings and NULL-terminated arrays that live until `free()`.
private struct CStringArena {
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    mutating func string(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        let p = strdup(s)!
        strings.append(p)
        return UnsafePointer(p)
    }

    mutating func array(_ items: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let a = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (i, s) in items.enumerated() { a[i] = string(s) }
        a[items.count] = nil
        arrays.append(a)
        return UnsafePointer(a)
    }

    func free() {
        for s in strings { Glibc.free(s) }
        for a in arrays { a.deallocate() }
    }
}
