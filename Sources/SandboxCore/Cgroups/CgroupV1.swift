#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// cgroup v1: one directory per box in each per-controller hierarchy
/// (memory, cpu, cpuacct, pids, freezer; co-mounted ones share a directory),
/// below a parent group "gradebox". A missing hierarchy only matters when a
/// limit or a measurement needs it.
package struct CgroupV1: CgroupDriver {
    package var version: CgroupVersion { .v1 }
    let fs: any CgroupFS
    /// Parent group ("<mount>/gradebox") of each controller gradebox uses.
    let memory: String?
    let cpu: String?
    let cpuacct: String?
    let pids: String?
    let freezer: String?
    /// Distinct parent groups, each made and removed once even when co-mounted.
    let parents: [String]
    /// memory.memsw.* exist only with swap accounting (CONFIG_MEMCG_SWAP and
    /// swapaccount); asked once here, not on every apply.
    let hasMemorySwapLimit: Bool

    static let cfsPeriodMicroseconds = 100_000

    package init(layout: CgroupLayout, fs: any CgroupFS) {
        self.fs = fs
        func parent(_ controller: String) -> String? {
            layout.v1[controller].map { "\($0)/\(gradeboxCgroupParent)" }
        }
        memory = parent("memory")
        cpu = parent("cpu")
        cpuacct = parent("cpuacct")
        pids = parent("pids")
        freezer = parent("freezer")
        var parents: [String] = []
        for p in [memory, cpu, cpuacct, pids, freezer] {
            if let p, !parents.contains(p) { parents.append(p) }
        }
        self.parents = parents
        hasMemorySwapLimit = layout.v1["memory"].map { fs.exists("\($0)/memory.memsw.limit_in_bytes") } ?? false
    }

    package func create(name: String) throws(SandboxError) -> CgroupHandle {
        try validateCgroupName(name)
        var made: [String] = []
        do {
            for parent in parents {
                let group = "\(parent)/\(name)"
                do {
                    try fs.mkdir(group)
                } catch where cgroupErrno(error) == ENOENT {
                    // First use of this hierarchy: make the parent, then the group.
                    do { try fs.mkdir(parent) } catch where cgroupErrno(error) == EEXIST {}
                    try fs.mkdir(group)
                }
                made.append(group)
            }
            // The quota in `apply` is relative to this period; set once here
            // so `apply` on a reused group writes only the limits.
            if let cpu {
                try fs.write("\(cpu)/\(name)/cpu.cfs_period_us", String(Self.cfsPeriodMicroseconds))
            }
        } catch {
            for group in made.reversed() { try? fs.rmdir(group) }
            throw error
        }
        return CgroupHandle(name: name, procsFiles: parents.map { "\($0)/\(name)/cgroup.procs" }, directory: nil)
    }

    package func apply(_ limits: Limits, to group: CgroupHandle) throws(SandboxError) {
        try validateCgroupLimits(limits)
        try require(memory, for: limits.memoryBytes != nil, "memory", "the memory limit")
        try require(cpu, for: limits.cpus != nil, "cpu", "the CPU quota")
        try require(pids, for: limits.pids != nil, "pids", "the process limit")
        try require(cpuacct, for: limits.cpuTimeSeconds != nil, "cpuacct", "measuring CPU time")

        if let memory {
            let dir = "\(memory)/\(group.name)"
            let limit = limits.memoryBytes.map { String($0) } ?? "-1"
            if hasMemorySwapLimit {
                let total = limits.memoryBytes.map { String(limits.memorySwapBytes ?? $0) } ?? "-1"
                // The kernel keeps memsw >= limit at every step: lowering, the
                // limit goes first; raising past the current memsw it fails
                // with EINVAL, and then memsw goes first. Trying is cheaper
                // than reading the current values each time.
                do {
                    try fs.write("\(dir)/memory.limit_in_bytes", limit)
                    try fs.write("\(dir)/memory.memsw.limit_in_bytes", total)
                } catch where cgroupErrno(error) == EINVAL {
                    try fs.write("\(dir)/memory.memsw.limit_in_bytes", total)
                    try fs.write("\(dir)/memory.limit_in_bytes", limit)
                }
            } else {
                try fs.write("\(dir)/memory.limit_in_bytes", limit)
            }
        }
        if let cpu {
            let quota = limits.cpus.map { cfsQuota($0, period: Self.cfsPeriodMicroseconds) } ?? "-1"
            try fs.write("\(cpu)/\(group.name)/cpu.cfs_quota_us", quota)
        }
        if let pids {
            try fs.write("\(pids)/\(group.name)/pids.max", limits.pids.map { String($0) } ?? "max")
        }
    }

    package func stats(_ group: CgroupHandle) throws(SandboxError) -> CgroupStats {
        let cpu = try cpuUsageNanoseconds(group)
        guard let memory else { return CgroupStats(cpuUsageNanoseconds: cpu, memoryPeakBytes: nil, oomKills: 0) }
        let dir = "\(memory)/\(group.name)"
        let peak = parseCgroupNumber(try fs.read("\(dir)/memory.max_usage_in_bytes"))
        let kills = try oomKillCount(dir)
        return CgroupStats(
            cpuUsageNanoseconds: cpu, memoryPeakBytes: peak,
            oomKills: kills >= group.oomKillBaseline ? kills - group.oomKillBaseline : kills)
    }

    /// One read of cpuacct.usage (ns, every process of the group ever).
    package func cpuUsageNanoseconds(_ group: CgroupHandle) throws(SandboxError) -> UInt64 {
        guard let cpuacct else {
            throw .hostUnsupported("the cgroup v1 cpuacct hierarchy is not mounted (needed to measure CPU time)")
        }
        let path = "\(cpuacct)/\(group.name)/cpuacct.usage"
        guard let usage = parseCgroupNumber(try fs.read(path)) else {
            throw .syscall("read(\(path)): not a number", errno: EINVAL)
        }
        return usage >= group.cpuUsageBaselineNanoseconds ? usage - group.cpuUsageBaselineNanoseconds : usage
    }

    /// Freeze, SIGKILL every pid, thaw, then wait until cgroup.procs is empty
    /// in every hierarchy. Freezing first keeps a forking program from
    /// making children between the read of cgroup.procs and the kills.
    package func killAll(_ group: CgroupHandle) throws(SandboxError) {
        var seen = try processes(group)
        if seen.isEmpty { return }
        var freezerState = freezer.map { "\($0)/\(group.name)/freezer.state" }
        if let state = freezerState {
            do {
                try fs.write(state, "FROZEN")
                seen = try processes(group)
            } catch where cgroupErrno(error) == ENOENT {
                freezerState = nil  // half-removed group: kill without freezing
            }
        }
        try killEach(seen)
        if let freezerState { try fs.write(freezerState, "THAWED") }
        try waitUntilEmpty("cgroup \(group.name)") { () throws(SandboxError) -> Bool in
            let left = try processes(group)
            // Without a freezer, children forked before the kill land here.
            if freezerState == nil { try killEach(left) }
            return left.isEmpty
        }
    }

    package func reset(_ group: inout CgroupHandle) throws(SandboxError) {
        if let memory {
            let dir = "\(memory)/\(group.name)"
            try fs.write("\(dir)/memory.max_usage_in_bytes", "0")
            group.oomKillBaseline = try oomKillCount(dir)
        }
        if let cpuacct {
            try fs.write("\(cpuacct)/\(group.name)/cpuacct.usage", "0")
            group.cpuUsageBaselineNanoseconds = 0
        }
    }

    /// Removes the group's directories, first without looking inside: a box
    /// whose init has been reaped is empty already (its pid namespace ended
    /// with it), and reading cgroup.procs in every hierarchy was a tenth of a
    /// cold box's teardown. A group still in use refuses (EBUSY): it is then
    /// emptied and removed.
    package func remove(_ group: CgroupHandle) throws(SandboxError) {
        do { try removeDirectories(group) } catch where cgroupErrno(error) == EBUSY {
            try killAll(group)
            try removeDirectories(group)
        }
    }

    private func removeDirectories(_ group: CgroupHandle) throws(SandboxError) {
        for parent in parents {
            do { try fs.rmdir("\(parent)/\(group.name)") } catch where cgroupErrno(error) == ENOENT {}
        }
    }

    package func leftovers() throws(SandboxError) -> [String] {
        var names: Set<String> = []
        for parent in parents {
            do { names.formUnion(try fs.list(parent)) } catch where cgroupErrno(error) == ENOENT {}
        }
        return names.sorted()
    }

    /// Union of cgroup.procs over every hierarchy; a group that is gone holds nothing.
    private func processes(_ group: CgroupHandle) throws(SandboxError) -> [Int32] {
        var all: [Int32] = []
        for parent in parents {
            let text: String
            do { text = try fs.read("\(parent)/\(group.name)/cgroup.procs") } catch where cgroupErrno(error) == ENOENT {
                continue
            }
            for pid in parsePids(text) where !all.contains(pid) { all.append(pid) }
        }
        return all
    }

    private func killEach(_ pids: [Int32]) throws(SandboxError) {
        for pid in pids {
            do { try fs.kill(pid, signal: SIGKILL) } catch where cgroupErrno(error) == ESRCH {}
        }
    }

    private func oomKillCount(_ memoryGroup: String) throws(SandboxError) -> UInt64 {
        parseKeyedValue(try fs.read("\(memoryGroup)/memory.oom_control"), key: "oom_kill") ?? 0
    }

    private func require(_ hierarchy: String?, for needed: Bool, _ controller: String, _ purpose: String)
        throws(SandboxError)
    {
        if needed && hierarchy == nil {
            throw .hostUnsupported("the cgroup v1 \(controller) hierarchy is not mounted (needed for \(purpose))")
        }
    }

    private func waitUntilEmpty(_ what: String, _ isEmpty: () throws(SandboxError) -> Bool) throws(SandboxError) {
        try waitForEmptyCgroup(fs: fs, what: what, isEmpty)
    }
}

// Shared by both drivers.

/// Poll `isEmpty` with growing pauses (0.5 ms up to 20 ms), about one second in all.
func waitForEmptyCgroup(fs: any CgroupFS, what: String, _ isEmpty: () throws(SandboxError) -> Bool)
    throws(SandboxError)
{
    var slept: UInt32 = 0
    var pause: UInt32 = 500
    while true {
        if try isEmpty() { return }
        if slept >= 1_000_000 {
            throw .syscall("kill(SIGKILL) every process of \(what): still not empty after 1 s", errno: EBUSY)
        }
        fs.pause(microseconds: pause)
        slept += pause
        pause = min(pause * 2, 20_000)
    }
}

func validateCgroupName(_ name: String) throws(SandboxError) {
    if name.isEmpty || name == "." || name == ".." || name.contains("/") || name.contains("\0") {
        throw .invalidRequest("cgroup name \"\(name)\": must be one path component")
    }
}

func validateCgroupLimits(_ limits: Limits) throws(SandboxError) {
    if let cpus = limits.cpus, !(cpus > 0 && cpus.isFinite) {
        throw .invalidRequest("cpus must be a positive number, not \(cpus)")
    }
    if let pids = limits.pids, pids < 1 {
        throw .invalidRequest("pids must be at least 1, not \(pids)")
    }
    if let swap = limits.memorySwapBytes {
        guard let memory = limits.memoryBytes else {
            throw .invalidRequest("a memory+swap limit needs a memory limit")
        }
        if swap < memory {
            throw .invalidRequest("memory+swap limit \(swap) is below the memory limit \(memory)")
        }
    }
}

/// CFS quota in µs for `cpus` CPUs; the kernel refuses less than 1 ms.
func cfsQuota(_ cpus: Double, period: Int) -> String {
    String(max(1000, Int((cpus * Double(period)).rounded())))
}

/// A file holding one number ("12345\n"); nil when it does not.
func parseCgroupNumber(_ text: String) -> UInt64? {
    UInt64(trimmed(text[...]))
}

/// The value of `key` in a flat-keyed file ("oom_kill 3\n", "usage_usec 42\n").
func parseKeyedValue(_ text: String, key: String) -> UInt64? {
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ", maxSplits: 1)
        if parts.count == 2, parts[0] == key { return UInt64(trimmed(parts[1])) }
    }
    return nil
}

func parsePids(_ text: String) -> [Int32] {
    text.split(separator: "\n").compactMap { Int32(trimmed($0)) }
}

private func trimmed(_ s: Substring) -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
    guard let start = s.firstIndex(where: { !isSpace($0) }), let end = s.lastIndex(where: { !isSpace($0) }) else { return "" }
    return s[start...end]
}
