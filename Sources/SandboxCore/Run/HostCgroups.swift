#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The cgroup driver for this host, chosen from /proc/self/mountinfo.
enum HostCgroups {
    static func driver() throws(SandboxError) -> any CgroupDriver {
        guard let mountinfo = readSmallFile("/proc/self/mountinfo") else {
            throw .hostUnsupported("cannot read /proc/self/mountinfo")
        }
        if geteuid() == 0 { favorDynamicModifications(mountinfo) }
        let layout = CgroupLayout.detect(mountinfo: mountinfo)
        return try makeCgroupDriver(layout: layout, fs: LiveCgroupFS())
    }

    /// Moving a task into a cgroup takes a global lock whose writer waits for
    /// an RCU grace period: 8-17 ms per box on this kind of host, more than
    /// everything else a box costs. Kernels since 6.0 drop that wait when a
    /// cgroup2 hierarchy is mounted with `favordynmods` (the lock is global,
    /// so it helps v1 hierarchies too); forks get slightly dearer in return.
    /// gradebox turns it on, once, where it runs as root and finds a cgroup2
    /// mount without it. A failure (an older kernel) changes nothing.
    static func favorDynamicModifications(_ mountinfo: String) {
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let after = halves[1].split(separator: " ")
            guard after.first == "cgroup2", after.count >= 3, !after[2].contains("favordynmods") else { continue }
            let fields = halves[0].split(separator: " ")
            guard fields.count > 4 else { continue }
            _ = mount(nil, String(fields[4]), nil, UInt(MS_REMOUNT), "favordynmods")
        }
    }
}
