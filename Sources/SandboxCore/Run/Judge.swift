#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// Turns what was seen of a box into a verdict or an error. Pure: every
/// verdict and every "command not found" case is unit-tested from values.
package enum Judge {
    /// The one rule for "the program is not in the image", for run, create,
    /// start and exec alike: its execve failed with ENOENT (no such file on
    /// any PATH entry) or ENOTDIR (a path through a file).
    package static func isCommandNotFound(step: Int32, errno e: Int32) -> Bool {
        step == CS_STEP_EXEC.rawValue && (e == ENOENT || e == ENOTDIR)
    }

    /// The error for a launch that failed before its program ran: from the
    /// C core's FAILED event (`step`, `errno`), or `otherwise` when none came.
    package static func launchError(step: Int32?, errno e: Int32, naming: StepNaming, command: String, image: String,
                                    otherwise: String) -> SandboxError {
        guard let step else { return .setupFailed(SandboxFailure(step: otherwise, errno: e)) }
        if isCommandNotFound(step: step, errno: e) { return .commandNotFound(command, image: image) }
        if let mistake = naming.callerMistake(step, errno: e, image: image) { return mistake }
        return .setupFailed(SandboxFailure(step: naming.name(step), errno: e))
    }

    /// The verdict and its numbers. Order matters: a limit we enforced
    /// explains a kill better than the signal it left behind.
    package static func verdict(_ o: Supervisor.Outcome, plan: LaunchPlan, spec: SandboxSpec, stats: CgroupStats?,
                                phases: PhaseTimes, wallMs: Double) throws(SandboxError) -> RunResult {
        var r = RunResult(verdict: .XX, stdout: o.stdout, stderr: o.stderr, outputDroppedBytes: o.droppedBytes,
                          phases: phases, cpuMs: 0, wallMs: wallMs)
        r.stdoutTally = o.stdoutTally
        r.stderrTally = o.stderrTally
        r.cpuMs = stats.map { Double($0.cpuUsageNanoseconds) / 1e6 } ?? o.usage.cpuMs
        if let cpu = o.programCPU {
            // The program's own rusage, reported by its init: it splits the box's total
            // (which counts what the program left behind too) in the same proportion.
            let sum = Double(cpu.user + cpu.system)
            r.cpuUserMs = sum > 0 ? r.cpuMs * Double(cpu.user) / sum : r.cpuMs
            r.cpuSysMs = r.cpuMs - r.cpuUserMs!
        } else {
            // A program exec'd into a box, reaped by the supervisor itself.
            r.cpuUserMs = o.usage.userMs
            r.cpuSysMs = o.usage.systemMs
        }
        r.memoryPeakBytes = stats?.memoryPeakBytes ?? UInt64(max(0, o.usage.ru_maxrss)) * 1024
        if let status = o.waitStatus {
            if status & 0x7f == 0 {
                r.exitCode = (status >> 8) & 0xff
            } else {
                r.signal = status & 0x7f
            }
        }
        if let (step, e) = o.failure {
            if isCommandNotFound(step: step, errno: e) { throw .commandNotFound(plan.argv.first ?? "", image: spec.image) }
            let naming = StepNaming(plan)
            if let mistake = naming.callerMistake(step, errno: e, image: spec.image) { throw mistake }
            r.failure = SandboxFailure(step: naming.name(step), errno: e)
            r.verdict = .XX
            return r
        }
        if let killed = o.killedFor {
            r.verdict = killed
            r.limit = o.limit
            // Killed with its box: the init that would have reported its status went first.
            if r.signal == nil && r.exitCode == nil { r.signal = SIGKILL }
        } else if let stats, stats.oomKills > 0 {
            r.verdict = .MLE
            r.limit = .memory
        } else if let sig = r.signal {
            // SIGXCPU is the per-process CPU backstop firing: a time limit.
            r.verdict = sig == SIGXCPU ? .TO : .SG
            if sig == SIGXCPU { r.limit = .cpu }
        } else if let code = r.exitCode {
            r.verdict = code == 0 ? .OK : .RE
        } else {
            // The init died without reporting the program's end: not the program's doing.
            r.failure = SandboxFailure(step: "init (pid 1 of the box) ended without an exit report", errno: 0)
            r.verdict = .XX
        }
        // Past the CPU limit, whatever it ended with; with a separate kill limit
        // (a judge's slack), a program that finished in the slack is TO too.
        let soft = spec.limits.cpuTimeKillSeconds != nil
        if let cpu = spec.limits.cpuTimeSeconds, r.verdict != .TO, r.verdict != .OK || soft, r.cpuMs > cpu * 1000 {
            r.verdict = .TO
            r.limit = .cpu
        }
        if r.limit == nil, let stats, stats.forkFailures > 0 { r.limit = .pids }
        return r
    }
}

/// Names the step a FAILED event of the C core points at: one of the plan's
/// mount ops by its index, or one of the fixed steps by its (negative)
/// number. Holds only what the names need, so a box's record can name the
/// steps after its gate without planning the box again.
package struct StepNaming {
    var ops: [MountOp] = []
    var newRoot: String?
    var mountTemplate: String?
    var hostname: String?
    var workdir: String
    var ids: UserID?
    var program: String

    package init(_ plan: LaunchPlan) {
        ops = plan.ops
        newRoot = plan.newRoot
        mountTemplate = plan.mountTemplate
        hostname = plan.hostname
        workdir = plan.workdir
        ids = plan.ids
        program = plan.argv.first ?? ""
    }

    /// The steps of a created box's program, after its gate (no mount op comes after it).
    init(workdir: String, user: UserID, program: String) {
        self.workdir = workdir
        ids = user.uid == 0 && user.gid == 0 ? nil : user
        self.program = program
    }

    /// A failure that is the caller's mistake, not the sandbox's: a mount
    /// point the caller named (or every box needs) that the image lacks, a
    /// working directory it does not have. A bad request naming what is
    /// missing, never XX: a grader reads XX as its infrastructure failing.
    package func callerMistake(_ step: Int32, errno e: Int32, image: String) -> SandboxError? {
        guard e == ENOENT || e == ENOTDIR else { return nil }
        if step == CS_STEP_CHDIR.rawValue {
            return .invalidRequest("--workdir \(workdir): no such directory in image \(image)")
        }
        guard step >= 0, Int(step) < ops.count, let purpose = ops[Int(step)].purpose else { return nil }
        var path = ops[Int(step)].target
        if let root = newRoot, path.hasPrefix(root) { path = String(path.dropFirst(root.count)) }
        if path.isEmpty { path = "/" }
        if purpose == Planner.imageDirectory {
            return .invalidRequest("image \(image) has no \(path) directory, where every box mounts its own: add it to the image, or run with --rootfs overlay")
        }
        return .invalidRequest("\(purpose): \(path) is not a directory in image \(image): use one the image has, add it, or run with --rootfs overlay")
    }

    package func name(_ step: Int32) -> String {
        if step >= 0, Int(step) < ops.count { return ops[Int(step)].description }
        switch step {
        case CS_STEP_PIVOT.rawValue: return "pivot_root(\(newRoot ?? ""))"
        case CS_STEP_MOUNT_TEMPLATE.rawValue: return "setns(mount template of \(mountTemplate ?? "?"))"
        case CS_STEP_HOSTNAME.rawValue: return "sethostname(\(hostname ?? ""))"
        case CS_STEP_CHDIR.rawValue: return "chdir(\(workdir))"
        case CS_STEP_SETID.rawValue: return "setresuid(\(ids.map { "\($0.uid):\($0.gid)" } ?? "0:0"))"
        case CS_STEP_EXEC.rawValue: return "execve(\(program))"
        default: return Self.name(step)
        }
    }

    /// Names a step that needs no plan to be named.
    package static func name(_ step: Int32) -> String {
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
}
