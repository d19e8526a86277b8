#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// cgroup v2: one directory per box below "<base>/gradebox", whose
/// cgroup.subtree_control hands memory, cpu and pids down to the boxes. The
/// base is the hierarchy's root for root, and the cgroup delegated to the
/// caller otherwise (`delegatedBase`).
package struct CgroupV2: CgroupDriver {
    package var version: CgroupVersion { .v2 }
    let fs: any Syscalls
    let mount: String
    /// The group gradebox's parent goes in, whose cgroup.subtree_control must hand the controllers down.
    let base: String
    let parent: String
    /// The controllers gradebox uses that the host offers.
    let controllers: Set<String>
    /// The counters read for every box, kept open until their group is removed or made anew.
    let counters: CounterFiles

    static let usedControllers: Set<String> = ["memory", "cpu", "pids"]

    package init(mount: String, base: String? = nil, controllers: Set<String>, fs: any Syscalls) {
        self.fs = fs
        self.mount = mount
        self.base = base ?? mount
        parent = "\(base ?? mount)/\(gradeboxCgroupParent)"
        self.controllers = controllers.intersection(Self.usedControllers)
        counters = CounterFiles(fs: fs)
    }

    /// Where a caller that is not root may make groups: the topmost group on
    /// the way from the root to its own (/proc/self/cgroup's `0::` line)
    /// whose directory, cgroup.procs and cgroup.subtree_control belong to
    /// it, as systemd's Delegate=yes (or an administrator's chown) leaves
    /// them. The topmost, because a box's init moves from the caller's group
    /// into the box's, and the kernel lets it only with write access to the
    /// common ancestor's cgroup.procs (cgroup-v2.rst, "Delegation Containment").
    static func delegatedBase(mount: String, euid: uid_t, fs: any Syscalls) throws(SandboxError) -> String {
        let own = try ownCgroup(fs)
        var dir = mount
        for component in own.split(separator: "/") {
            dir += "/" + component
            if [dir, dir + "/cgroup.procs", dir + "/cgroup.subtree_control"].allSatisfy({ fs.status($0)?.owner == euid }) {
                return dir
            }
        }
        throw .hostUnsupported(
            "cgroup v2 as uid \(euid): no cgroup on the way to this process's own (\(mount)\(own)) is delegated to it "
                + "(a directory whose cgroup.procs and cgroup.subtree_control uid \(euid) owns, as systemd's Delegate=yes leaves them): "
                + "run gradebox in a delegated cgroup (systemd-run --user --scope -p Delegate=yes ...) or as root")
    }

    /// This process's group on the unified hierarchy, e.g. "/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope".
    static func ownCgroup(_ fs: any Syscalls) throws(SandboxError) -> String {
        for line in try fs.read("/proc/self/cgroup").split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        throw .hostUnsupported("cgroup v2: /proc/self/cgroup has no 0:: line")
    }

    package func create(name: String) throws(SandboxError) -> CgroupHandle {
        try validateCgroupName(name)
        try prepareParent()
        let dir = "\(parent)/\(name)"
        try fs.mkdir(dir)
        return CgroupHandle(name: name, procsFiles: ["\(dir)/cgroup.procs"], directory: dir)
    }

    /// Make "<mount>/gradebox" and enable the controllers on the way down:
    /// a controller reaches a group only when every ancestor lists it in
    /// cgroup.subtree_control. Costs one read once it is set up.
    private func prepareParent() throws(SandboxError) {
        let wanted = controllers.sorted()
        let enabled: String
        do {
            enabled = try fs.read("\(parent)/cgroup.subtree_control")
        } catch where cgroupErrno(error) == ENOENT {
            do {
                try enable(wanted, in: base)
            } catch where cgroupErrno(error) == EBUSY && base != mount {
                // The kernel's "no internal processes" rule: only the root may hand controllers down while it holds processes.
                throw .hostUnsupported(
                    "cgroup v2: \(base), the cgroup delegated to this user, holds processes, so it cannot hand "
                        + "\(wanted.joined(separator: ", ")) down to gradebox's groups: move them into a group below it (as systemd puts a user's processes in app.slice)")
            }
            do { try fs.mkdir(parent) } catch where cgroupErrno(error) == EEXIST {}
            enabled = ""
        }
        try enable(wanted.filter { !words(enabled).contains($0) }, in: parent, known: enabled)
    }

    private func enable(_ wanted: [String], in group: String, known: String? = nil) throws(SandboxError) {
        guard !wanted.isEmpty else { return }
        var enabled = known ?? ""
        if known == nil { enabled = try fs.read("\(group)/cgroup.subtree_control") }
        let missing = wanted.filter { !words(enabled).contains($0) }
        guard !missing.isEmpty else { return }
        try fs.write("\(group)/cgroup.subtree_control", missing.map { "+\($0)" }.joined(separator: " "))
    }

    package var features: CgroupFeatures {
        CgroupFeatures(version: .v2, controllers: controllers, mount: mount)
    }

    package func apply(_ writes: [CgroupWrite], to group: CgroupHandle) throws(SandboxError) {
        let dir = "\(parent)/\(group.name)"
        try write(writes, fs: fs) { controllers.contains($0) ? dir : nil }
    }

    package func stats(_ group: CgroupHandle) throws(SandboxError) -> CgroupStats {
        let cpu = try cpuUsageNanoseconds(group)
        guard controllers.contains("memory") else {
            return CgroupStats(cpuUsageNanoseconds: cpu, memoryPeakBytes: nil, oomKills: 0)
        }
        let dir = "\(parent)/\(group.name)"
        var peak: UInt64?
        do {
            peak = parseCgroupNumber(try counters.read("\(dir)/memory.peak"))
        } catch where cgroupErrno(error) == ENOENT {
            peak = nil  // memory.peak came with Linux 5.19
        }
        let kills = try oomKillCount(dir)
        return CgroupStats(
            cpuUsageNanoseconds: cpu, memoryPeakBytes: peak,
            oomKills: kills >= group.oomKillBaseline ? kills - group.oomKillBaseline : kills)
    }

    /// One read of cpu.stat's usage_usec (always there: cpu.stat is a core file).
    package func cpuUsageNanoseconds(_ group: CgroupHandle) throws(SandboxError) -> UInt64 {
        since(group.cpuUsageBaselineNanoseconds, try cpuStat(group))
    }

    /// cpu.stat's usage_usec, in ns.
    private func cpuStat(_ group: CgroupHandle) throws(SandboxError) -> UInt64 {
        let path = "\(parent)/\(group.name)/cpu.stat"
        guard let usec = parseKeyedValue(try counters.read(path), key: "usage_usec") else {
            throw .syscall("read(\(path)): no usage_usec", errno: EINVAL)
        }
        return usec &* 1000
    }

    package func forkFailures(_ group: CgroupHandle) throws(SandboxError) -> UInt64 {
        guard controllers.contains("pids") else { return 0 }
        return since(group.forkFailureBaseline, try forksRefused("\(parent)/\(group.name)"))
    }

    private func forksRefused(_ dir: String) throws(SandboxError) -> UInt64 {
        do { return parseKeyedValue(try counters.read("\(dir)/pids.events"), key: "max") ?? 0 } catch where cgroupErrno(error) == ENOENT { return 0 }
    }

    /// cgroup.kill (Linux 5.14+) kills the whole subtree at once, forks
    /// included; older kernels get a kill per pid, repeated while waiting.
    /// Done when cgroup.events says `populated 0`.
    package func killAll(_ group: CgroupHandle) throws(SandboxError) {
        let dir = "\(parent)/\(group.name)"
        if try !isPopulated(dir) { return }
        var perPid = false
        do {
            try fs.write("\(dir)/cgroup.kill", "1")
        } catch where cgroupErrno(error) == ENOENT {
            perPid = true
        }
        try waitForEmptyCgroup(fs: fs, what: "cgroup \(group.name)") { () throws(SandboxError) -> Bool in
            if perPid {
                for pid in parsePids(try fs.read("\(dir)/cgroup.procs")) {
                    do throws(SandboxError) { try fs.kill(pid, signal: SIGKILL) } catch where cgroupErrno(error) == ESRCH {}
                }
            }
            return try !isPopulated(dir)
        }
    }

    /// memory.peak cannot be reset for later readers: writing it (Linux
    /// 6.12+) resets it only as seen through the writer's open file, and
    /// `stats` opens it afresh. So an empty group is made again (rmdir,
    /// mkdir: every counter starts at zero, baselines too); a group still
    /// holding a process (a warm box's init, waiting at its gate) keeps its
    /// peak, and its OOM kills, CPU usage and refused forks count from here
    /// on through the handle's baselines.
    package var resetKeepsGroup: Bool { false }

    package func reset(_ group: inout CgroupHandle) throws(SandboxError) {
        let dir = "\(parent)/\(group.name)"
        do {
            counters.forget(under: dir)
            do { try fs.rmdir(dir) } catch where cgroupErrno(error) == ENOENT {}
            try fs.mkdir(dir)
            group.oomKillBaseline = 0
            group.cpuUsageBaselineNanoseconds = 0
            group.forkFailureBaseline = 0
            return
        } catch where cgroupErrno(error) == EBUSY {}
        if controllers.contains("memory") {
            try? fs.write("\(dir)/memory.peak", "reset")
            group.oomKillBaseline = try oomKillCount(dir)
        }
        group.cpuUsageBaselineNanoseconds = try cpuStat(group)
        if controllers.contains("pids") { group.forkFailureBaseline = try forksRefused(dir) }
    }

    /// rmdir first, as v1 does: an ended box's group is empty; one still in
    /// use (EBUSY) is emptied, then removed.
    package func remove(_ group: CgroupHandle) throws(SandboxError) {
        let dir = "\(parent)/\(group.name)"
        counters.forget(under: dir)
        do {
            do { try fs.rmdir(dir) } catch where cgroupErrno(error) == EBUSY {
                // Boxes' groups below it (a BoxGroup) go first: a group with children refuses too.
                for child in children(of: group) { try remove(child) }
                try killAll(group)
                try fs.rmdir(dir)
            }
        } catch where cgroupErrno(error) == ENOENT {}
    }

    /// cgroup.kill reaches the whole subtree; where it is missing, each pid is
    /// killed, and only a group's own are listed: the groups below go first.
    package func killTree(_ group: CgroupHandle) throws(SandboxError) {
        for child in children(of: group) { try killTree(child) }
        try killAll(group)
    }

    private func children(of group: CgroupHandle) -> [CgroupHandle] {
        let dir = "\(parent)/\(group.name)"
        return ((try? fs.entries(dir)) ?? []).filter(\.isDirectory).map {
            CgroupHandle(name: "\(group.name)/\($0.name)", procsFiles: ["\(dir)/\($0.name)/cgroup.procs"], directory: "\(dir)/\($0.name)")
        }
    }

    /// A group holding boxes holds no process itself (v2's rule), and hands its controllers down.
    package func enableChildren(_ group: CgroupHandle) throws(SandboxError) {
        try enable(controllers.sorted(), in: "\(parent)/\(group.name)", known: "")
    }

    package func leftovers() throws(SandboxError) -> [String] {
        do { return try fs.list(parent) } catch where cgroupErrno(error) == ENOENT { return [] }
    }

    private func isPopulated(_ dir: String) throws(SandboxError) -> Bool {
        parseKeyedValue(try fs.read("\(dir)/cgroup.events"), key: "populated") != 0
    }

    private func oomKillCount(_ dir: String) throws(SandboxError) -> UInt64 {
        do {
            return parseKeyedValue(try counters.read("\(dir)/memory.events"), key: "oom_kill") ?? 0
        } catch where cgroupErrno(error) == ENOENT {
            return 0
        }
    }

    private func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }
}
