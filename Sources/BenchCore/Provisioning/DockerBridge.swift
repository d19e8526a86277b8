import Foundation

/// The bridge of one Docker daemon: `gbxd-<storage driver>` with the gateway address of a
/// private /24 of its own (172.31.<n>.0/24), so daemons of several storage drivers run side
/// by side without fighting over docker0. The subnet is local: only the FORWARD rules
/// toward the ping peer's veth (`PeerNetwork`) are accepted, anything else leaving the
/// bridge is dropped, and Docker's NAT is off, so nothing is routed off the host.
public struct DockerBridge: Sendable, Equatable {
    /// At most 15 bytes (IFNAMSIZ - 1): "gbxd-fuseoverla" for fuse-overlayfs.
    public var name: String
    /// "172.31.14.1/24"; nil when made from a name only (teardown needs no address).
    public var gateway: String?

    public init(_ storage: Storage) {
        let index = Storage.allCases.firstIndex(of: storage) ?? 0
        name = String(("gbxd-" + storage.rawValue.replacingOccurrences(of: "-", with: "")).prefix(15))
        gateway = "172.31.\(10 + index).1/24"
    }

    init(name: String) {
        self.name = name
        gateway = nil
    }

    /// ip(8) invocations, in order.
    public var ipCommands: [[String]] {
        guard let gateway else { return [] }
        return [
            ["link", "add", name, "type", "bridge"],
            ["addr", "add", gateway, "dev", name],
            ["link", "set", name, "up"],
        ]
    }

    /// iptables FORWARD rules, each inserted at the top with `-I` in this order, so the
    /// last (the accepts) end up above the drop.
    public var forwardRules: [[String]] {
        [
            ["FORWARD", "-i", name, "-j", "DROP"],
            ["FORWARD", "-i", "gbx-pr0", "-o", name, "-j", "ACCEPT"],
            ["FORWARD", "-i", name, "-o", "gbx-pr0", "-j", "ACCEPT"],
        ]
    }
}
