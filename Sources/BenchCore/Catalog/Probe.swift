import Foundation

public enum CandidateState: String, Codable, Sendable {
    /// Set up: packages installed, daemon running, images imported.
    case ready
    /// `gradebox bench setup` can make it ready.
    case settable = "can be set up"
    case unavailable
}

/// A candidate's state on one host, with the reason read from the host when it
/// cannot run, and the ways it departs from the thesis's definition when it can.
public struct CandidateStatus: Codable, Sendable, Equatable {
    public var candidate: Candidate
    public var state: CandidateState
    public var reason: String?
    /// e.g. "cgroup v2 controllers: the host is hybrid v1; runs with cgroup v1".
    public var notes: [String]
    /// Provisioning units `setup` has to bring up for this candidate.
    public var units: [String]
}

/// Candidate states as a pure function of `HostFacts`.
public enum Probe {
    /// The provisioning units a candidate needs, in the order setup brings them up.
    public static func units(for c: Candidate) -> [String] {
        var u = ["image:\(c.image.rawValue)"]
        if c.runtime == .crun { u.append("hugetlb-v1") }
        if c.storage == .btrfs { u.append("btrfs-loop") }
        switch c.manager {
        case .docker: u.append(c.rootless ? "docker-rootless" : "docker:\(c.storage.rawValue)")
        case .podman: u.append(c.rootless ? "podman-rootless:\(c.storage.rawValue)" : "podman:\(c.storage.rawValue)")
        case .lxc: u.append("lxc:\(c.storage.rawValue)")
        case .containerd: u += ["docker:overlay2", "containerd"]
        case .oci, .bwrap, .gradebox: break
        }
        if c.rootless { u.insert("rootless-user", at: 1) }
        return u
    }

    public static func status(_ c: Candidate, facts f: HostFacts) -> CandidateStatus {
        let units = units(for: c)
        var notes: [String] = []
        func out(_ s: CandidateState, _ reason: String? = nil) -> CandidateStatus {
            CandidateStatus(candidate: c, state: s, reason: reason, notes: notes, units: units)
        }
        if let reason = kernelReason(c, f) { return out(.unavailable, reason) }
        if let reason = packageReason(c, f) { return out(.unavailable, reason) }
        if c.manager == .gradebox && !f.gradeboxUsable { return out(.unavailable, "gradebox: the sandbox library cannot run boxes on this host") }
        if !f.isRoot { return out(.unavailable, "setting candidates up needs root") }
        if c.rootless && !f.userNamespaces { return out(.unavailable, "rootless: user namespaces are disabled (user.max_user_namespaces = 0)") }

        if c.cgroup == .v2 && f.cgroupLayout != .unified {
            notes.append(c.rootless
                ? "cgroup v2 controllers: the host is \(f.cgroupLayout.rawValue) v1; runs without cgroup limits"
                : "cgroup v2 controllers: the host is \(f.cgroupLayout.rawValue) v1; runs with cgroup v1")
        }
        if c.rootless && c.cgroup == .none { notes.append("rootless on cgroup v1: runs without cgroup limits") }
        if c.runtime == .crun && f.cgroupLayout == .hybrid && f.cgroupV2Controllers.contains("hugetlb") && !f.provisioned.contains("hugetlb-v1") {
            notes.append("crun refuses hybrid cgroups while hugetlb is in cgroup2: setup mounts hugetlb as v1")
        }
        if c.manager == .lxc { notes.append("LXD is not packaged in Debian 12: LXC's own tools drive the lxc runtime") }
        if c.image == .minimal { notes.append("minimal = busybox-static rootfs (stand-in for Alpine)") }
        if c.image == .full { notes.append("full = Debian minbase rootfs (stand-in for CentOS)") }

        let missing = units.filter { !f.provisioned.contains($0) }
            .filter { !($0 == "hugetlb-v1" && !(f.cgroupLayout == .hybrid && f.cgroupV2Controllers.contains("hugetlb"))) }
        let notInstalled = Packages.required(for: c).filter { f.installed[$0] == nil }
        return out(missing.isEmpty && notInstalled.isEmpty ? .ready : .settable)
    }

    /// What the kernel lacks, read from /proc/filesystems, /proc/devices, /proc/misc, mountinfo.
    static func kernelReason(_ c: Candidate, _ f: HostFacts) -> String? {
        switch c.storage {
        case .aufs where !f.filesystems.contains("aufs"):
            return "aufs: the kernel has no aufs (/proc/filesystems)"
        case .devicemapper where !f.devices.contains("device-mapper"):
            return "devicemapper: the kernel has no device-mapper (/proc/devices, /proc/misc)"
        case .lvm where !f.devices.contains("device-mapper"):
            return "lvm: the kernel has no device-mapper (/proc/devices, /proc/misc)"
        case .zfs where !f.filesystems.contains("zfs"):
            if f.installed["zfsutils-linux"] == nil && !f.installable.contains("zfsutils-linux") {
                return "zfs: zfsutils-linux is in contrib, not reachable, and the kernel has no zfs"
            }
            return "zfs: the kernel has no zfs (/proc/filesystems)"
        case .btrfs where !f.filesystems.contains("btrfs"):
            return "btrfs: the kernel has no btrfs (/proc/filesystems)"
        case .overlay2, .overlay, .overlayfs, .tmpfsOverlay:
            if !f.filesystems.contains("overlay") { return "\(c.storage.rawValue): the kernel has no overlay filesystem (/proc/filesystems)" }
        case .fuseOverlayfs where !f.filesystems.contains("fuse") || !f.devices.contains("fuse"):
            return "fuse-overlayfs: the kernel has no fuse (/proc/filesystems, /proc/misc)"
        default: break
        }
        switch c.runtime {
        case .kataQemu, .kataFC:
            if f.installed["kata-containers"] == nil && !f.installable.contains("kata-containers") {
                return "kata: not packaged for this distribution (no kata-containers in the reachable archives)"
            }
        default: break
        }
        if f.cgroupLayout == .none && c.cgroup != .none { return "cgroups: no cgroup filesystem is mounted" }
        if c.cgroup == .v1 && f.cgroupLayout == .unified && [.docker, .lxc].contains(c.manager) && c.number != nil {
            return "cgroup v1 controllers: the host is unified cgroup v2 (the thesis's \(c.manager.thesisName) needed v1)"
        }
        return nil
    }

    static func packageReason(_ c: Candidate, _ f: HostFacts) -> String? {
        let missing = Packages.required(for: c).filter { f.installed[$0] == nil && !f.installable.contains($0) }
        guard !missing.isEmpty else { return nil }
        return missing.map { "\($0): not packaged for this distribution or not reachable" }.joined(separator: "; ")
    }

    public static func statuses(_ candidates: [Candidate] = Catalog.all, facts: HostFacts) -> [CandidateStatus] {
        candidates.map { status($0, facts: facts) }
    }
}
