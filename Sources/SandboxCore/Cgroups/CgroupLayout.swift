#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the cgroup hierarchies are mounted, as /proc/self/mountinfo tells.
package struct CgroupLayout: Sendable, Equatable {
    /// v1 controller → mount point of its hierarchy. Co-mounted controllers
    /// (`cpu,cpuacct`) map to the same mount point; named hierarchies
    /// (`name=systemd`) are left out.
    package var v1: [String: String]
    /// Mount point of the cgroup2 hierarchy, if one is mounted.
    package var unified: String?

    package init(v1: [String: String] = [:], unified: String? = nil) {
        self.v1 = v1
        self.unified = unified
    }

    /// The v1 controllers gradebox uses. Any of them mounted as v1 means the
    /// host runs v1 or hybrid, and then they cannot be on v2.
    package static let v1Controllers = ["memory", "cpu", "cpuacct", "pids", "freezer"]

    /// Every controller a v1 hierarchy can hold (Linux 6.x). A switch, not a
    /// Set: this runs once per `gradebox run` process, where the first use of
    /// a Set<String> (its metadata, a seeded hasher) cost more than the scan.
    static func isKnownV1Controller(_ name: Substring) -> Bool {
        switch name {
        case "cpuset", "cpu", "cpuacct", "blkio", "io", "memory", "devices", "freezer", "net_cls",
             "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc": true
        default: false
        }
    }

    package var hasV1Controllers: Bool {
        ["memory", "cpu", "cpuacct", "pids"].contains { v1[$0] != nil }
    }

    /// Parse mountinfo text (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT
    /// OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`. For cgroup v1
    /// the controllers are in the super options. The first mount of a
    /// hierarchy wins (later ones are bind mounts of it).
    package static func detect(mountinfo: String) -> CgroupLayout {
        detect(MountInfo.parse(mountinfo))
    }

    package static func detect(_ entries: [MountInfoEntry]) -> CgroupLayout {
        var layout = CgroupLayout()
        for entry in entries {
            switch entry.fsType {
            case "cgroup2":
                if layout.unified == nil { layout.unified = unescape(entry.mountPoint) }
            case "cgroup":
                let mountPoint = unescape(entry.mountPoint)
                for option in entry.superOptions.split(separator: ",") {
                    // Super options mix controllers with flags (xattr, noprefix,
                    // clone_children ...): keep the controllers only.
                    guard isKnownV1Controller(option) else { continue }
                    let name = String(option)
                    if layout.v1[name] == nil { layout.v1[name] = mountPoint }
                }
            default:
                continue
            }
        }
        return layout
    }

    /// The layout of this process's mount namespace.
    package static func current(fs: any Syscalls = Kernel.live) throws(SandboxError) -> CgroupLayout {
        detect(mountinfo: try fs.read("/proc/self/mountinfo"))
    }

    /// mountinfo escapes space, tab, newline and backslash as `\ooo`.
    package static func unescape(_ field: String) -> String {
        guard field.utf8.contains(UInt8(ascii: "\\")) else { return field }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count,
                let value = UInt8(String(decoding: utf8[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The name of gradebox's parent group in every hierarchy.
package let gradeboxCgroupParent = "gradebox"

/// The driver for this layout: v1 when the memory, cpu, cpuacct or pids
/// controllers are mounted as v1 hierarchies (hybrid hosts included: their
/// cgroup2 mount cannot hold a controller v1 already holds); v2 when the
/// cgroup2 hierarchy offers memory, cpu or pids in its `cgroup.controllers`
/// (for a caller that is not root, in the cgroup delegated to it).
package func makeCgroupDriver(layout: CgroupLayout, fs: any Syscalls = Kernel.live, euid: uid_t = geteuid()) throws(SandboxError)
    -> any CgroupDriver
{
    if layout.hasV1Controllers {
        return CgroupV1(layout: layout, fs: fs)
    }
    guard let unified = layout.unified else {
        throw .hostUnsupported("no cgroup hierarchy is mounted (neither cgroup v1 memory/cpu/pids nor cgroup2)")
    }
    let base = euid == 0 ? unified : try CgroupV2.delegatedBase(mount: unified, euid: euid, fs: fs)
    let listed = try fs.read("\(base)/cgroup.controllers").split(whereSeparator: { $0 == " " || $0 == "\n" })
    let controllers = Set(listed.map(String.init)).intersection(CgroupV2.usedControllers)
    guard !controllers.isEmpty else {
        throw .hostUnsupported(
            "cgroup v2 controllers: \(base)/cgroup.controllers offers none of memory, cpu, pids"
                + (base == unified ? "" : " (its parent's cgroup.subtree_control must hand them down)"))
    }
    return CgroupV2(mount: unified, base: base, controllers: controllers, fs: fs)
}
