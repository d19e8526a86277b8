#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The cgroup driver for this host, chosen from /proc/self/mountinfo (or
/// the layout learned from it before, kept in the state directory).
enum HostCgroups {
    static func driver(stateDirectory: String) throws(SandboxError) -> any CgroupDriver {
        let layout = try CgroupLayoutCache.layout(in: stateDirectory) { () throws(SandboxError) in try learn() }
        return try makeCgroupDriver(layout: layout, fs: Kernel.live)
    }

    static func learn() throws(SandboxError) -> CgroupLayout {
        guard let mountinfo = Kernel.readText("/proc/self/mountinfo") else {
            throw .hostUnsupported("cannot read /proc/self/mountinfo")
        }
        let entries = MountInfo.parse(mountinfo)
        if geteuid() == 0 { favorDynamicModifications(entries) }
        return CgroupLayout.detect(entries)
    }

    /// Moving a task into a cgroup takes a global lock whose writer waits for
    /// an RCU grace period: 8-17 ms per box on this kind of host, more than
    /// everything else a box costs. Kernels since 6.0 drop that wait when a
    /// cgroup2 hierarchy is mounted with `favordynmods` (the lock is global,
    /// so it helps v1 hierarchies too); forks get slightly dearer in return.
    /// gradebox turns it on, once, where it runs as root and finds a cgroup2
    /// mount without it. A failure (an older kernel) changes nothing.
    static func favorDynamicModifications(_ entries: [MountInfoEntry]) {
        for entry in entries where entry.fsType == "cgroup2" {
            guard !entry.superOptions.split(separator: ",").contains("favordynmods") else { continue }
            try? Kernel.remount(CgroupLayout.unescape(entry.mountPoint), options: "favordynmods")
        }
    }
}
