/// The cgroup driver for this host, chosen from /proc/self/mountinfo.
enum HostCgroups {
    static func driver() throws(SandboxError) -> any CgroupDriver {
        guard let mountinfo = readSmallFile("/proc/self/mountinfo") else {
            throw .hostUnsupported("cannot read /proc/self/mountinfo")
        }
        let layout = CgroupLayout.detect(mountinfo: mountinfo)
        return try makeCgroupDriver(layout: layout, fs: LiveCgroupFS())
    }
}
