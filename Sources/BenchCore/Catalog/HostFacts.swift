import Foundation
import SandboxCore

/// How the host mounts its cgroups, read from /proc/self/mountinfo.
public enum CgroupLayout: String, Codable, Sendable {
    /// Only cgroup2 at /sys/fs/cgroup.
    case unified
    /// v1 hierarchies plus a cgroup2 mount (systemd's "hybrid").
    case hybrid
    /// v1 hierarchies only.
    case legacy
    case none
}

/// Everything the candidate states depend on, collected once. Probing is a pure
/// function of these values (`Probe.state`), so it is tested without a host.
public struct HostFacts: Codable, Sendable, Equatable {
    public var kernel: String = ""
    public var cpuModel: String = ""
    public var cpus: Int = 0
    public var isRoot: Bool = false
    /// Names in /proc/filesystems ("overlay", "btrfs", "fuse" ...).
    public var filesystems: Set<String> = []
    /// Names in /proc/devices and /proc/misc ("device-mapper", "fuse" ...).
    public var devices: Set<String> = []
    public var cgroupLayout: CgroupLayout = .none
    /// v1 controllers mounted, and controllers the cgroup2 mount offers.
    public var cgroupV1Controllers: Set<String> = []
    public var cgroupV2Controllers: Set<String> = []
    public var userNamespaces: Bool = false
    /// Debian packages installed, with their version.
    public var installed: [String: String] = [:]
    /// Packages apt could install (a candidate version exists in the reachable archives).
    public var installable: Set<String> = []
    /// Provisioning units whose work is done and whose daemon (if any) is alive,
    /// e.g. "docker:overlay2", "podman:vfs", "lxc:dir", "image:minimal", "hugetlb-v1".
    public var provisioned: Set<String> = []
    /// Whether the gradebox library can run boxes here (SandboxCore linked and usable).
    public var gradeboxUsable: Bool = true
    /// Tool versions, as the tools print them, for the records.
    public var toolVersions: [String: String] = [:]

    public init() {}

    /// The host facts every TrialRecord repeats.
    public var recordFields: [String: String] {
        var out = ["kernel": kernel, "cpu": cpuModel, "cpus": String(cpus), "cgroup": cgroupLayout.rawValue]
        for (tool, version) in toolVersions { out["version." + tool] = version }
        return out
    }
}

extension HostFacts {
    /// Reads the facts from /proc, /sys, dpkg and apt. Cheap enough for every CLI call (~100 ms,
    /// apt-cache being the slow part).
    public static func collect(state: ProvisionState? = nil) async -> HostFacts {
        var f = HostFacts()
        f.kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        f.cpuModel = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? ""
        f.cpus = ProcessInfo.processInfo.activeProcessorCount
        f.isRoot = getuid() == 0
        f.filesystems = parseFilesystems((try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? "")
        f.devices = parseDevices((try? String(contentsOfFile: "/proc/devices", encoding: .utf8)) ?? "")
            .union(parseDevices((try? String(contentsOfFile: "/proc/misc", encoding: .utf8)) ?? ""))
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let cg = parseCgroupMounts(mountinfo)
        f.cgroupV1Controllers = cg.v1
        if let v2 = cg.v2Path {
            let list = (try? String(contentsOfFile: v2 + "/cgroup.controllers", encoding: .utf8)) ?? ""
            f.cgroupV2Controllers = Set(list.split(whereSeparator: \.isWhitespace).map(String.init))
        }
        f.cgroupLayout = cg.v1.isEmpty ? (cg.v2Path == nil ? .none : .unified) : (cg.v2Path == nil ? .legacy : .hybrid)
        let maxUserNS = (try? String(contentsOfFile: "/proc/sys/user/max_user_namespaces", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        f.userNamespaces = maxUserNS > 0
        f.installed = await installedPackages(Packages.all)
        f.installable = await installablePackages(Packages.all.filter { f.installed[$0] == nil })
        f.provisioned = state?.liveUnits() ?? []
        f.toolVersions = f.installed.filter { Packages.versioned.contains($0.key) }
        return f
    }

    static func parseFilesystems(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { $0.split(whereSeparator: \.isWhitespace).last.map(String.init) })
    }

    /// "253 device-mapper" lines of /proc/devices and /proc/misc.
    static func parseDevices(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { line in
            let parts = line.split(whereSeparator: \.isWhitespace)
            return parts.count == 2 && Int(parts[0]) != nil ? String(parts[1]) : nil
        })
    }

    /// v1 controllers (from the super options of each cgroup mount) and the cgroup2 mount point.
    static func parseCgroupMounts(_ mountinfo: String) -> (v1: Set<String>, v2Path: String?) {
        let layout = SandboxCore.CgroupLayout.detect(mountinfo: mountinfo)
        return (Set(layout.v1.keys), layout.unified)
    }

    static func installedPackages(_ names: [String]) async -> [String: String] {
        guard let out = try? await Tool.output("/usr/bin/dpkg-query", ["-W", "-f=${Package} ${Status} ${Version}\n"] + names, allowFailure: true)
        else { return [:] }
        var result: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let p = line.split(separator: " ")
            // "name install ok installed version"
            if p.count >= 5, p[3] == "installed" { result[String(p[0])] = String(p[4]) }
        }
        return result
    }

    static func installablePackages(_ names: [String]) async -> Set<String> {
        guard !names.isEmpty, let out = try? await Tool.output("/usr/bin/apt-cache", ["policy"] + names, allowFailure: true)
        else { return [] }
        return parseAptPolicy(out)
    }

    /// Packages with a "Candidate:" other than "(none)" in `apt-cache policy` output.
    static func parseAptPolicy(_ text: String) -> Set<String> {
        var out: Set<String> = []
        var current: String?
        for line in text.split(separator: "\n") {
            if !line.hasPrefix(" "), line.hasSuffix(":") { current = String(line.dropLast()) }
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("Candidate:"), let c = current, !t.contains("(none)") { out.insert(c) }
        }
        return out
    }
}

/// The Debian packages each part of the catalog needs.
public enum Packages {
    public static let all = ["docker.io", "containerd", "runc", "crun", "podman", "lxc", "rsync", "bubblewrap", "btrfs-progs",
                             "fuse-overlayfs", "uidmap", "slirp4netns", "rootlesskit", "containernetworking-plugins",
                             "catatonit", "iptables", "busybox-static", "debootstrap", "zfsutils-linux", "lvm2",
                             "kata-containers", "lxd", "firecracker"]
    /// Packages whose version goes into every record.
    public static let versioned: Set<String> = ["docker.io", "containerd", "runc", "crun", "podman", "lxc", "bubblewrap",
                                                "fuse-overlayfs", "rootlesskit", "busybox-static"]

    public static func required(for c: Candidate) -> [String] {
        var p: [String] = []
        switch c.manager {
        case .docker: p = ["docker.io", "containerd", "runc", "iptables"]
        case .podman: p = ["podman", "containernetworking-plugins", "catatonit", "iptables", "runc", "crun"]
        // lxc-copy clones a dir-backed container with rsync, which lxc only
        // recommends: without it every clone fails ("Failed to exec command").
        case .lxc: p = ["lxc", "rsync"]
        case .oci: p = []
        case .bwrap: p = ["bubblewrap"]
        case .containerd: p = ["containerd", "runc", "docker.io"]
        case .gradebox: p = []
        }
        switch c.runtime {
        case .crun: p.append("crun")
        case .runc: p.append("runc")
        case .kataQemu, .kataFC: p.append("kata-containers")
        default: break
        }
        switch c.storage {
        case .btrfs: p.append("btrfs-progs")
        case .zfs: p.append("zfsutils-linux")
        case .lvm, .devicemapper: p.append("lvm2")
        case .fuseOverlayfs: p.append("fuse-overlayfs")
        default: break
        }
        if c.rootless {
            p += ["uidmap", "slirp4netns"]
            if c.manager == .docker { p.append("rootlesskit") }
        }
        p.append(c.image == .minimal ? "busybox-static" : "debootstrap")
        var seen: Set<String> = []
        return p.filter { seen.insert($0).inserted }
    }
}
