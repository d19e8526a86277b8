/// What the host's cgroup hierarchy offers, as far as limits go: learned
/// once by the driver (`CgroupDriver.features`), then planned against.
package struct CgroupFeatures: Sendable, Equatable {
    package var version: CgroupVersion
    /// Controllers gradebox may write limits to or read usage from: a subset of memory, cpu, cpuacct, pids.
    package var controllers: Set<String>
    /// v1 only: memory.memsw.* exist (swap accounting is on).
    package var memorySwapLimit: Bool
    /// Where a missing controller would be looked for, for the error (v2: the cgroup2 mount).
    package var mount: String?

    package init(version: CgroupVersion, controllers: Set<String>, memorySwapLimit: Bool = false, mount: String? = nil) {
        self.version = version
        self.controllers = controllers
        self.memorySwapLimit = memorySwapLimit
        self.mount = mount
    }
}

/// One value written to one file of a box's group, in the hierarchy of `controller`.
package struct CgroupWrite: Sendable, Equatable, CustomStringConvertible {
    package var controller: String
    package var file: String
    package var value: String
    /// ENOENT on the file is tolerated: v2's memory.swap.max without swap accounting.
    package var optional = false
    /// v1's memory and memory+swap limits: the kernel keeps memsw >= limit at
    /// every step, so lowering, the limit goes first; raising past the
    /// current memsw it fails with EINVAL, and then this pair is written the
    /// other way round. Trying is cheaper than reading the current values each time.
    package var swapsWithNextOnEINVAL = false

    package init(_ controller: String, _ file: String, _ value: String, optional: Bool = false, swapsWithNextOnEINVAL: Bool = false) {
        self.controller = controller
        self.file = file
        self.value = value
        self.optional = optional
        self.swapsWithNextOnEINVAL = swapsWithNextOnEINVAL
    }

    package var description: String { "\(controller):\(file)=\(value)" }
}

/// Turns a box's limits into the writes its cgroup needs, and owns every
/// check of those limits and its message. Pure: the drivers only carry the
/// writes out. Unset limits are written as unlimited, so a reused pool
/// group carries nothing over from its last user.
package enum CgroupPlanner {
    static let v1CpuPeriodMicroseconds = 100_000
    static let v2CpuPeriodMicroseconds = 100_000

    /// Rejects limits no group can hold, before anything is made. (What a
    /// box would be too small to start with, such as less than 1M of memory,
    /// is the spec's rule: `Planner.validate`.)
    package static func validate(_ l: Limits) throws(SandboxError) {
        if let cpus = l.cpus, !(cpus > 0) || !cpus.isFinite {
            throw .invalidRequest("--cpus must be a positive number, got \(cpus)")
        }
        if let s = l.memorySwapBytes {
            guard let m = l.memoryBytes else { throw .invalidRequest("--memory-swap needs --memory") }
            if s < m { throw .invalidRequest("--memory-swap (\(s) bytes) must be at least --memory (\(m) bytes)") }
        }
        if let p = l.pids, p <= 0 { throw .invalidRequest("--pids must be positive, got \(p)") }
    }

    /// The writes for `limits` on a host with `features`, in order.
    package static func writes(_ limits: Limits, for features: CgroupFeatures) throws(SandboxError) -> [CgroupWrite] {
        try validate(limits)
        let has = features.controllers
        func require(_ controller: String, for needed: Bool, _ purpose: String) throws(SandboxError) {
            guard needed && !has.contains(controller) else { return }
            switch features.version {
            case .v1: throw .hostUnsupported("the cgroup v1 \(controller) hierarchy is not mounted (needed for \(purpose))")
            case .v2: throw .hostUnsupported("cgroup v2 controller \(controller) is not in \(features.mount ?? "the cgroup2 mount")/cgroup.controllers (needed for \(purpose))")
            }
        }
        try require("memory", for: limits.memoryBytes != nil, "the memory limit")
        try require("cpu", for: limits.cpus != nil, "the CPU quota")
        try require("pids", for: limits.pids != nil, "the process limit")
        if features.version == .v1 { try require("cpuacct", for: limits.cpuTimeSeconds != nil, "measuring CPU time") }

        var writes: [CgroupWrite] = []
        switch features.version {
        case .v1:
            if has.contains("memory") {
                let limit = limits.memoryBytes.map { String($0) } ?? "-1"
                if features.memorySwapLimit {
                    let total = limits.memoryBytes.map { String(limits.memorySwapBytes ?? $0) } ?? "-1"
                    writes.append(CgroupWrite("memory", "memory.limit_in_bytes", limit, swapsWithNextOnEINVAL: true))
                    writes.append(CgroupWrite("memory", "memory.memsw.limit_in_bytes", total))
                } else {
                    writes.append(CgroupWrite("memory", "memory.limit_in_bytes", limit))
                }
            }
            if has.contains("cpu") {
                let quota = limits.cpus.map { cfsQuota($0, period: v1CpuPeriodMicroseconds) } ?? "-1"
                writes.append(CgroupWrite("cpu", "cpu.cfs_quota_us", quota))
            }
            if has.contains("pids") {
                writes.append(CgroupWrite("pids", "pids.max", limits.pids.map { String($0) } ?? "max"))
            }
        case .v2:
            if has.contains("memory") {
                writes.append(CgroupWrite("memory", "memory.max", limits.memoryBytes.map { String($0) } ?? "max"))
                // v2 limits swap alone; `memorySwapBytes` is memory + swap as in v1.
                let swap = limits.memoryBytes.map { String((limits.memorySwapBytes ?? $0) - $0) } ?? "max"
                writes.append(CgroupWrite("memory", "memory.swap.max", swap, optional: true))
            }
            if has.contains("cpu") {
                let quota = limits.cpus.map { cfsQuota($0, period: v2CpuPeriodMicroseconds) } ?? "max"
                writes.append(CgroupWrite("cpu", "cpu.max", "\(quota) \(v2CpuPeriodMicroseconds)"))
            }
            if has.contains("pids") {
                writes.append(CgroupWrite("pids", "pids.max", limits.pids.map { String($0) } ?? "max"))
            }
        }
        return writes
    }

    /// CFS quota in µs for `cpus` CPUs; the kernel refuses less than 1 ms.
    static func cfsQuota(_ cpus: Double, period: Int) -> String {
        String(max(1000, Int((cpus * Double(period)).rounded())))
    }
}
