#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cgroup holding several boxes: a grading job's box and the student boxes
/// it starts. Each box run with `SandboxSpec.group` set gets its own group
/// below this one, with its own limits; this group's limits hold over all of
/// them together, its usage counts all of them, and removing it ends them all.
public struct BoxGroup: Codable, Sendable, Equatable {
    package let handle: CgroupHandle
    /// From this process's pool of groups: its boxes' cgroups (and their
    /// network namespaces) are kept and reused, and removing it gives it back.
    package var pooled = false
    public var name: String { handle.name }

    package init(handle: CgroupHandle, pooled: Bool = false) {
        self.handle = handle
        self.pooled = pooled
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        handle = try c.decode(CgroupHandle.self, forKey: .handle)
        pooled = try c.decodeIfPresent(Bool.self, forKey: .pooled) ?? false
    }
}

/// What a group's boxes used, together.
public struct GroupUsage: Sendable, Equatable {
    /// CPU time of every process that ran in the group.
    public var cpuNanoseconds: UInt64
    public var memoryPeakBytes: UInt64?
}

extension Sandbox {
    /// Makes a group for boxes to run in together, with `limits` over all of
    /// them (memory, memory+swap, CPU quota, pids; the time limits are each
    /// box's). Needs a writable cgroup hierarchy.
    ///
    /// `pooled`: take one this process used before, with its boxes' cgroups
    /// and network namespaces (a long-lived caller running one group after
    /// another: a grader); `removeGroup` gives it back, `drainWarmBoxes` removes them.
    public func makeGroup(limits: Limits = Limits(), pooled: Bool = false) throws(SandboxError) -> BoxGroup {
        let runtime = try Runtime.shared(stateDirectory)
        guard let driver = runtime.cgroups else {
            throw .hostUnsupported("a group of boxes is a cgroup, and no writable cgroup hierarchy was found")
        }
        // Named as one-shot runs' groups are, so `gc` spares it while this process lives.
        func make() throws(SandboxError) -> CgroupHandle {
            let handle = try driver.create(name: "\(runtime.groupPrefix)-\(getpid())-\(Runtime.nextSerial())")
            do throws(SandboxError) {
                try driver.enableChildren(handle)
            } catch {
                try? driver.remove(handle)
                throw error
            }
            return handle
        }
        if pooled {
            return BoxGroup(handle: try runtime.groups.take(limits, driver: driver, make: make), pooled: true)
        }
        let handle = try make()
        do {
            try driver.apply(limits, to: handle)
        } catch {
            try? driver.remove(handle)
            throw error
        }
        return BoxGroup(handle: handle)
    }

    /// Kills whatever still runs in the group's boxes and removes it, with
    /// every group below it (a pooled group goes back to the pool instead).
    public func removeGroup(_ group: BoxGroup) throws(SandboxError) {
        let runtime = try Runtime.shared(stateDirectory)
        guard let driver = runtime.cgroups else { return }
        if group.pooled {
            // Its boxes' members come back once their releases are done.
            runtime.releases.settle()
            if try runtime.groups.give(group.name, driver: driver) { return }
        }
        try driver.remove(group.handle)
    }

    /// SIGKILL to every program of the group's boxes; the group stays, for
    /// `usage` and `removeGroup`. Each box ends as killed by a signal (SG).
    public func killGroup(_ group: BoxGroup) throws(SandboxError) {
        let runtime = try Runtime.shared(stateDirectory)
        try runtime.cgroups?.killTree(group.handle)
    }

    /// The CPU time the group's boxes used so far, together, in ns: one
    /// cgroupfs read, where `usage` reads the memory files too.
    public func cpuUsage(of group: BoxGroup) throws(SandboxError) -> UInt64 {
        let runtime = try Runtime.shared(stateDirectory)
        return try runtime.cgroups?.cpuUsageNanoseconds(group.handle) ?? 0
    }

    /// What the group's boxes used so far, together (ended boxes included).
    public func usage(of group: BoxGroup) throws(SandboxError) -> GroupUsage {
        let runtime = try Runtime.shared(stateDirectory)
        guard let driver = runtime.cgroups else { return GroupUsage(cpuNanoseconds: 0, memoryPeakBytes: nil) }
        let stats = try driver.stats(group.handle)
        return GroupUsage(cpuNanoseconds: stats.cpuUsageNanoseconds, memoryPeakBytes: stats.memoryPeakBytes)
    }
}
