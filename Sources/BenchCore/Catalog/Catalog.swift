import Foundation

/// What one of the thesis's managers supports, in the order the thesis's table lists it.
public struct ManagerSupport: Sendable {
    public var manager: Manager
    public var runtimes: [Runtime]
    public var storages: [Storage]
    public var cgroups: [CgroupVersion]
}

/// One constraint of section 4.2.1, as the thesis states it, with its test.
public struct ConstraintRule: Sendable {
    public var statement: String
    public var allows: @Sendable (_ manager: Manager, _ runtime: Runtime, _ storage: Storage, _ cgroup: CgroupVersion, _ rootless: Bool) -> Bool
}

/// The candidate catalog: the thesis's dimensions and constraint rules as data,
/// the 72 candidates they generate (numbered as in the thesis's table), and the new ones.
public enum Catalog {
    /// Managers of the thesis, each with what it supports (the "only supports" rules).
    public static let thesisManagers: [ManagerSupport] = [
        // "Docker doesn't support cgroupv2 yet." "Docker only supports aufs, btrfs,
        // devicemapper, overlay, vfs, zfs as storage driver."
        ManagerSupport(manager: .docker, runtimes: [.runc, .crun, .kataQemu, .kataFC],
                       storages: [.aufs, .btrfs, .devicemapper, .overlay2, .vfs, .zfs], cgroups: [.v1]),
        // "LXD doesn't support cgroupv2 yet." "LXD only supports btrfs, zfs, directory and lvm."
        ManagerSupport(manager: .lxc, runtimes: [.lxc], storages: [.btrfs, .zfs, .dir, .lvm], cgroups: [.v1]),
        ManagerSupport(manager: .podman, runtimes: [.runc, .crun],
                       storages: [.aufs, .btrfs, .overlay, .vfs, .zfs], cgroups: [.v1, .v2]),
    ]

    /// The remaining constraints of section 4.2.1 that are not a manager's support list.
    public static let rules: [ConstraintRule] = [
        ConstraintRule(statement: "LXD only supports LXC as runtime, and LXC is only supported by LXD") { m, r, _, _, _ in
            (m == .lxc) == (r == .lxc)
        },
        ConstraintRule(statement: "Kata Container with Firecracker only supports devicemapper as storage driver") { _, r, s, _, _ in
            r != .kataFC || s == .devicemapper
        },
        ConstraintRule(statement: "zfs, lvm, aufs can not be used with rootless containers") { _, _, s, _, rootless in
            !rootless || ![.zfs, .lvm, .aufs].contains(s)
        },
        ConstraintRule(statement: "cgroup (v1) can not be used with rootless containers") { _, _, _, c, rootless in
            !rootless || c != .v1
        },
        ConstraintRule(statement: "runc doesn't support cgroupv2 yet") { _, r, _, c, _ in
            r != .runc || c != .v2
        },
    ]

    /// True when the combination passes the manager's support lists and every rule.
    public static func isAllowed(_ m: Manager, _ r: Runtime, _ s: Storage, _ c: CgroupVersion, rootless: Bool) -> Bool {
        guard let support = thesisManagers.first(where: { $0.manager == m }),
              support.runtimes.contains(r), support.storages.contains(s), support.cgroups.contains(c)
        else { return false }
        return rules.allSatisfy { $0.allows(m, r, s, c, rootless) }
    }

    /// The rule that rejects a combination, for messages; nil when it is allowed.
    public static func violatedRule(_ m: Manager, _ r: Runtime, _ s: Storage, _ c: CgroupVersion, rootless: Bool) -> String? {
        guard let support = thesisManagers.first(where: { $0.manager == m }) else { return "\(m.thesisName) is not one of the thesis's managers" }
        if !support.runtimes.contains(r) { return "\(m.thesisName) does not support the runtime \(r.rawValue)" }
        if !support.storages.contains(s) { return "\(m.thesisName) does not support the storage driver \(s.rawValue)" }
        if !support.cgroups.contains(c) { return "\(m.thesisName) does not support cgroup \(c.rawValue)" }
        return rules.first { !$0.allows(m, r, s, c, rootless) }?.statement
    }

    /// The thesis's 72 candidates, generated in the order of its table: manager, image,
    /// runtime, rootless (no, then yes), storage. "cgroupv2 is the successor of cgroup,
    /// and should be used, when supported by the other elements": v2 whenever allowed.
    public static let thesisCandidates: [Candidate] = {
        var out: [Candidate] = []
        for support in thesisManagers {
            for image in BaseImage.allCases {
                for runtime in support.runtimes {
                    for rootless in [false, true] {
                        for storage in support.storages {
                            let cgroup: CgroupVersion? = [.v2, .v1].first {
                                isAllowed(support.manager, runtime, storage, $0, rootless: rootless)
                            }
                            guard let cgroup else { continue }
                            out.append(Candidate(number: out.count + 1, manager: support.manager, runtime: runtime,
                                                 storage: storage, image: image, cgroup: cgroup, rootless: rootless))
                        }
                    }
                }
            }
        }
        return out
    }()

    /// Candidates the thesis did not have: gradebox, runtimes driven directly, containerd,
    /// rootless Docker, and the storage drivers this host adds.
    public static let newCandidates: [Candidate] = [
        Candidate(manager: .gradebox, runtime: .gradebox, storage: .rootfs, image: .minimal, cgroup: .v1, name: "gradebox"),
        Candidate(manager: .gradebox, runtime: .gradebox, storage: .rootfs, image: .minimal, cgroup: .v1, pool: true, name: "gradebox-pool"),
        Candidate(manager: .gradebox, runtime: .gradebox, storage: .rootfs, image: .minimal, cgroup: .v1, viaCLI: true, name: "gradebox-cli"),
        Candidate(manager: .gradebox, runtime: .gradebox, storage: .rootfs, image: .minimal, cgroup: .v1, pool: true, viaCLI: true,
                  name: "gradebox-cli-pool"),
        Candidate(manager: .gradebox, runtime: .gradebox, storage: .rootfs, image: .full, cgroup: .v1, name: "gradebox/full"),
        Candidate(manager: .oci, runtime: .crun, storage: .rootfs, image: .minimal, cgroup: .v1, name: "crun"),
        Candidate(manager: .oci, runtime: .runc, storage: .rootfs, image: .minimal, cgroup: .v1, name: "runc"),
        Candidate(manager: .bwrap, runtime: .bwrap, storage: .rootfs, image: .minimal, cgroup: .none, name: "bwrap"),
        Candidate(manager: .containerd, runtime: .runc, storage: .overlayfs, image: .minimal, cgroup: .v1),
        Candidate(manager: .containerd, runtime: .crun, storage: .overlayfs, image: .minimal, cgroup: .v1),
        Candidate(manager: .docker, runtime: .runc, storage: .overlay2, image: .minimal, cgroup: .none, rootless: true),
        Candidate(manager: .docker, runtime: .runc, storage: .overlay2, image: .full, cgroup: .none, rootless: true),
        Candidate(manager: .docker, runtime: .crun, storage: .fuseOverlayfs, image: .minimal, cgroup: .v1),
        Candidate(manager: .podman, runtime: .crun, storage: .fuseOverlayfs, image: .minimal, cgroup: .v2, rootless: true),
    ]

    public static let all: [Candidate] = thesisCandidates + newCandidates

    /// Short names accepted besides the canonical ones.
    public static let aliases: [String: String] = [
        "containerd": "containerd/runc/overlayfs/minimal",
        "docker-rootless": "docker/runc/overlay2/minimal/rootless",
        "podman-rootless": "podman/crun/overlay/minimal/rootless",
        "lxc": "lxc/lxc/dir/minimal",
        "docker": Candidate.baselineName,
        "podman": "podman/crun/overlay/minimal",
    ]

    /// Finds a candidate by name, alias or thesis number ("#4" or "4").
    public static func lookup(_ text: String) throws(BenchError) -> Candidate {
        let key = text.trimmingCharacters(in: .whitespaces)
        let digits = key.hasPrefix("#") ? String(key.dropFirst()) : key
        if let n = Int(digits) {
            if let c = thesisCandidates.first(where: { $0.number == n }) { return c }
            throw .unknownCandidate(key, valid: ["#1...#\(thesisCandidates.count)"] + all.map(\.name))
        }
        let name = aliases[key] ?? key
        if let c = all.first(where: { $0.name == name }) { return c }
        throw .unknownCandidate(key, valid: all.map(\.name))
    }

    /// Parses a comma-separated list; duplicates are dropped, order kept.
    public static func lookupList(_ text: String) throws(BenchError) -> [Candidate] {
        var out: [Candidate] = []
        for part in text.split(separator: ",") where !part.isEmpty {
            let c = try lookup(String(part))
            if !out.contains(c) { out.append(c) }
        }
        return out
    }
}
