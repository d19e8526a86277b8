#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cgroup made for one box (or one warm-pool slot), as the driver that made it knows it.
package struct CgroupHandle: Sendable, Equatable, Codable {
    /// Relative name below gradebox's parent group, e.g. "box-1234" or "pool-3".
    package var name: String
    /// The `cgroup.procs` files a process writes "0" to in order to join the
    /// group (one per v1 hierarchy, one for v2). The C core opens none of
    /// these itself: the launcher opens them and hands the fds over.
    package var procsFiles: [String]
    /// v2 only: the group's directory.
    package var directory: String?
    /// The group's OOM-kill count when it was created or last reset: neither
    /// v1's memory.oom_control nor v2's memory.events can be zeroed, so
    /// `stats` reports the count minus this.
    package var oomKillBaseline: UInt64
    /// The same for CPU usage where the counter cannot be zeroed (v2 cpu.stat);
    /// `cpuUsageNanoseconds` and `stats` subtract it.
    package var cpuUsageBaselineNanoseconds: UInt64
    /// The same for forks refused at the pids limit (pids.events `max`, v1 and v2).
    package var forkFailureBaseline: UInt64 = 0
    package init(
        name: String, procsFiles: [String], directory: String?,
        oomKillBaseline: UInt64 = 0, cpuUsageBaselineNanoseconds: UInt64 = 0
    ) {
        self.name = name
        self.procsFiles = procsFiles
        self.directory = directory
        self.oomKillBaseline = oomKillBaseline
        self.cpuUsageBaselineNanoseconds = cpuUsageBaselineNanoseconds
    }

    // Handles saved before the baselines existed still decode.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        procsFiles = try c.decode([String].self, forKey: .procsFiles)
        directory = try c.decodeIfPresent(String.self, forKey: .directory)
        oomKillBaseline = try c.decodeIfPresent(UInt64.self, forKey: .oomKillBaseline) ?? 0
        cpuUsageBaselineNanoseconds = try c.decodeIfPresent(UInt64.self, forKey: .cpuUsageBaselineNanoseconds) ?? 0
        forkFailureBaseline = try c.decodeIfPresent(UInt64.self, forKey: .forkFailureBaseline) ?? 0
    }
}

/// What a cgroup measured for a finished box.
package struct CgroupStats: Sendable, Equatable {
    package var cpuUsageNanoseconds: UInt64
    package var memoryPeakBytes: UInt64?
    /// OOM kills inside the group since it was created or last reset.
    package var oomKills: UInt64
    /// Filled by who asks for it (`CgroupDriver.forkFailures`): only a run with a pids limit needs the read.
    package var forkFailures: UInt64 = 0
    package init(cpuUsageNanoseconds: UInt64, memoryPeakBytes: UInt64?, oomKills: UInt64) {
        self.cpuUsageNanoseconds = cpuUsageNanoseconds
        self.memoryPeakBytes = memoryPeakBytes
        self.oomKills = oomKills
    }
}

/// One cgroup hierarchy layout (v1 per-controller trees, or v2 unified),
/// behind one interface so the rest of SandboxCore never asks which.
package protocol CgroupDriver: Sendable {
    var version: CgroupVersion { get }
    /// mkdir the group (in every hierarchy it needs). Fails if it exists.
    func create(name: String) throws(SandboxError) -> CgroupHandle
    /// What this host's hierarchy offers, for `CgroupPlanner`.
    var features: CgroupFeatures { get }
    /// Carries out the writes `CgroupPlanner` made for the group's limits, in order.
    func apply(_ writes: [CgroupWrite], to group: CgroupHandle) throws(SandboxError)
    func stats(_ group: CgroupHandle) throws(SandboxError) -> CgroupStats
    /// Current CPU usage only: read on the hot loop that enforces CPU time.
    func cpuUsageNanoseconds(_ group: CgroupHandle) throws(SandboxError) -> UInt64
    /// Forks refused at the group's pids limit since it was made or reset (pids.events `max`).
    func forkFailures(_ group: CgroupHandle) throws(SandboxError) -> UInt64
    /// SIGKILL every process in the group (v2: cgroup.kill; v1: freeze, kill each pid, thaw) and wait until it is empty.
    func killAll(_ group: CgroupHandle) throws(SandboxError)
    /// Make a used, empty group fresh for reuse: the memory peak is reset
    /// where the kernel allows it, and the handle's baselines move to the
    /// current OOM-kill count and CPU usage so `stats` counts from now.
    func reset(_ group: inout CgroupHandle) throws(SandboxError)
    /// `reset` leaves the group's directories as they are, with their limits
    /// (v1 zeroes counters); else it may make them anew (v2: an empty group
    /// is removed and made again, the one way to zero its memory peak).
    var resetKeepsGroup: Bool { get }
    /// rmdir the group everywhere (kills what is left first, and removes the groups below it).
    func remove(_ group: CgroupHandle) throws(SandboxError)
    /// `killAll` of the groups below `group` (a BoxGroup's boxes), then of `group`.
    func killTree(_ group: CgroupHandle) throws(SandboxError)
    /// Lets boxes' groups be made below `group` with its controllers (v2:
    /// its cgroup.subtree_control; v1 hierarchies need nothing).
    func enableChildren(_ group: CgroupHandle) throws(SandboxError)
    /// Names of groups gradebox left behind below its parent group (for `gradebox gc`).
    func leftovers() throws(SandboxError) -> [String]
}

package enum CgroupVersion: String, Sendable, Codable {
    case v1, v2
}

/// `value` counted from `baseline` (a counter that cannot be zeroed); a value below it (a new group under an old handle) as it is.
func since(_ baseline: UInt64, _ value: UInt64) -> UInt64 {
    value >= baseline ? value - baseline : value
}

extension CgroupDriver {
    /// Plans `limits` for this host and writes them (memory, memory+swap, cpu quota, pids).
    package func apply(_ limits: Limits, to group: CgroupHandle) throws(SandboxError) {
        try apply(CgroupPlanner.writes(limits, for: features), to: group)
    }

    /// Writes `writes` in order, each in the directory `directory(controller)`
    /// gives (nil: that hierarchy is not there, and the planner wrote nothing for it).
    func write(_ writes: [CgroupWrite], fs: any Syscalls, directory: (String) -> String?) throws(SandboxError) {
        var i = 0
        while i < writes.count {
            let w = writes[i]
            guard let dir = directory(w.controller) else { i += 1; continue }
            if w.swapsWithNextOnEINVAL, i + 1 < writes.count, let nextDir = directory(writes[i + 1].controller) {
                let next = writes[i + 1]
                do {
                    try fs.write("\(dir)/\(w.file)", w.value)
                    try fs.write("\(nextDir)/\(next.file)", next.value)
                } catch where cgroupErrno(error) == EINVAL {
                    try fs.write("\(nextDir)/\(next.file)", next.value)
                    try fs.write("\(dir)/\(w.file)", w.value)
                }
                i += 2
                continue
            }
            do { try fs.write("\(dir)/\(w.file)", w.value) } catch where w.optional && cgroupErrno(error) == ENOENT {}
            i += 1
        }
    }
}

/// The errno a cgroupfs operation failed with, nil for other errors.
func cgroupErrno(_ error: SandboxError) -> Int32? {
    if case .syscall(_, let e) = error { return e }
    return nil
}
