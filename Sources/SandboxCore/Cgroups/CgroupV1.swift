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
    let fs: any Syscalls
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
    /// The counters read and zeroed for every box, kept open.
    let counters: CounterFiles

    package init(layout: CgroupLayout, fs: any Syscalls) {
        self.fs = fs
        counters = CounterFiles(fs: fs)
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
                try fs.write("\(cpu)/\(name)/cpu.cfs_period_us", String(CgroupPlanner.v1CpuPeriodMicroseconds))
            }
        } catch {
            for group in made.reversed() { try? fs.rmdir(group) }
            throw error
        }
        return CgroupHandle(name: name, procsFiles: parents.map { "\($0)/\(name)/cgroup.procs" }, directory: nil)
    }

    package var features: CgroupFeatures {
        var controllers: Set<String> = []
        if memory != nil { controllers.insert("memory") }
        if cpu != nil { controllers.insert("cpu") }
        if cpuacct != nil { controllers.insert("cpuacct") }
        if pids != nil { controllers.insert("pids") }
        return CgroupFeatures(version: .v1, controllers: controllers, memorySwapLimit: hasMemorySwapLimit)
    }

    package func apply(_ writes: [CgroupWrite], to group: CgroupHandle) throws(SandboxError) {
        try write(writes, fs: fs) { controller in
            switch controller {
            case "memory": memory.map { "\($0)/\(group.name)" }
            case "cpu": cpu.map { "\($0)/\(group.name)" }
            case "cpuacct": cpuacct.map { "\($0)/\(group.name)" }
            case "pids": pids.map { "\($0)/\(group.name)" }
            default: nil
            }
        }
    }

    package func stats(_ group: CgroupHandle) throws(SandboxError) -> CgroupStats {
        try memoryStats(group, cpu: try cpuUsageNanoseconds(group))
    }

    private func memoryStats(_ group: CgroupHandle, cpu: UInt64) throws(SandboxError) -> CgroupStats {
        guard let memory else { return CgroupStats(cpuUsageNanoseconds: cpu, memoryPeakBytes: nil, oomKills: 0) }
        let dir = "\(memory)/\(group.name)"
        let peak = parseCgroupNumber(try counters.read("\(dir)/memory.max_usage_in_bytes"))
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
        guard let usage = parseCgroupNumber(try counters.read(path)) else {
            throw .syscall("read(\(path)): not a number", errno: EINVAL)
        }
        return usage >= group.cpuUsageBaselineNanoseconds ? usage - group.cpuUsageBaselineNanoseconds : usage
    }

    package func forkFailures(_ group: CgroupHandle) throws(SandboxError) -> UInt64 {
        guard let pids else { return 0 }
        return since(group.forkFailureBaseline, try forksRefused("\(pids)/\(group.name)"))
    }

    private func forksRefused(_ pidsGroup: String) throws(SandboxError) -> UInt64 {
        do { return parseKeyedValue(try counters.read("\(pidsGroup)/pids.events"), key: "max") ?? 0 } catch where cgroupErrno(error) == ENOENT { return 0 }
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

    package var resetKeepsGroup: Bool { true }

    package func reset(_ group: inout CgroupHandle) throws(SandboxError) {
        if let memory {
            let dir = "\(memory)/\(group.name)"
            try counters.write("\(dir)/memory.max_usage_in_bytes", "0")
            group.oomKillBaseline = try oomKillCount(dir)
        }
        if let cpuacct {
            // Zeroes usage_user and usage_sys too.
            try counters.write("\(cpuacct)/\(group.name)/cpuacct.usage", "0")
            group.cpuUsageBaselineNanoseconds = 0
        }
        if let pids { group.forkFailureBaseline = try forksRefused("\(pids)/\(group.name)") }
    }

    /// Removes the group's directories, first without looking inside: a box
    /// whose init has been reaped is empty already (its pid namespace ended
    /// with it), and reading cgroup.procs in every hierarchy was a tenth of a
    /// cold box's teardown. A group still in use refuses (EBUSY): it is then
    /// emptied and removed.
    package func remove(_ group: CgroupHandle) throws(SandboxError) {
        do { try removeDirectories(group) } catch where cgroupErrno(error) == EBUSY {
            // Boxes' groups below it (a BoxGroup) go first: a group with children refuses too.
            for child in children(of: group) { try remove(child) }
            try killAll(group)
            try removeDirectories(group)
        }
    }

    package func killTree(_ group: CgroupHandle) throws(SandboxError) {
        for child in children(of: group) { try killTree(child) }
        try killAll(group)
    }

    /// The groups below `group`, in any hierarchy.
    private func children(of group: CgroupHandle) -> [CgroupHandle] {
        var names: Set<String> = []
        for parent in parents {
            for entry in (try? fs.entries("\(parent)/\(group.name)")) ?? [] where entry.isDirectory { names.insert(entry.name) }
        }
        return names.sorted().map { CgroupHandle(name: "\(group.name)/\($0)", procsFiles: [], directory: nil) }
    }

    package func enableChildren(_ group: CgroupHandle) throws(SandboxError) {}

    private func removeDirectories(_ group: CgroupHandle) throws(SandboxError) {
        for parent in parents {
            counters.forget(under: "\(parent)/\(group.name)")
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
        parseKeyedValue(try counters.read("\(memoryGroup)/memory.oom_control"), key: "oom_kill") ?? 0
    }

    private func waitUntilEmpty(_ what: String, _ isEmpty: () throws(SandboxError) -> Bool) throws(SandboxError) {
        try waitForEmptyCgroup(fs: fs, what: what, isEmpty)
    }
}

