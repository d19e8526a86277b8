import Foundation

/// The image the network and ping experiments run: the base image plus
/// Debian's lighttpd (with the shared objects it needs) and a page to serve;
/// the full image also gets iputils' ping, which debootstrap's minbase leaves
/// out (the minimal image pings with busybox's applet, as Alpine would).
public struct NetworkImage: Sendable, Equatable {
    public var base: String
    public init(base: String) { self.base = base }

    public var name: String { "gradebox-\(base)-net" }

    public static let documentRoot = "/srv/www"
    public static let page = "<html><body>gradebox</body></html>\n"

    /// lighttpd's configuration for `port`, written by the exec'd command so
    /// one image serves any port (host-network candidates need a free one).
    public static func configuration(port: UInt16) -> String {
        """
        server.document-root = "\(documentRoot)"
        server.port = \(port)
        server.bind = "0.0.0.0"
        server.upload-dirs = ( "/tmp" )
        server.modules = ( )
        index-file.names = ( "index.html" )
        """
    }

    /// The exec'd command: write the configuration, then lighttpd in the foreground
    /// (the driver's exec is detached).
    public static func serverCommand(port: UInt16) -> [String] {
        ["/bin/sh", "-c", "printf '%s\\n' '\(configuration(port: port))' > /tmp/lighttpd.conf && exec /usr/sbin/lighttpd -D -f /tmp/lighttpd.conf"]
    }

    public func plan(
        baseRootfs: String, lighttpd: (binary: String, libraries: [String]), ping: (binary: String, libraries: [String])?,
        exists: (String) -> Bool
    ) -> WorkloadImagePlan {
        var steps: [WorkloadImagePlan.Step] = [.linkTree(source: baseRootfs)]
        var installed = Set<String>()
        func install(_ tool: (binary: String, libraries: [String]), at destination: String) {
            steps.append(.install(source: tool.binary, destination: destination))
            for lib in tool.libraries where !exists(baseRootfs + lib) && installed.insert(lib).inserted {
                steps.append(.install(source: lib, destination: lib))
            }
        }
        install(lighttpd, at: "/usr/sbin/lighttpd")
        if let ping, !exists(baseRootfs + "/bin/ping") { install(ping, at: "/bin/ping") }
        steps.append(.write(contents: Self.page, destination: Self.documentRoot + "/index.html"))
        return WorkloadImagePlan(name: name, steps: steps)
    }
}

/// Network namespaces the network and ping experiments set up on this host
/// (never anything outside it), with ip(8):
/// - `gbx-peer`: the ping peer, 10.231.77.2, reached from the host over the
///   veth gbx-pr0 (10.231.77.1) — by bridge-networked containers through the
///   host's routing, as the thesis's containers reached 1.1.1.1;
/// - `gbx-box`: a namespace the runtimes driven directly and LXC join
///   (`NetworkRequest.namespace`), 10.231.79.2, linked to the host over
///   gbx-bx0 (10.231.79.1), with its default route through the host.
public enum PeerNetwork {
    public static let peerNamespace = "gbx-peer"
    public static let boxNamespace = "gbx-box"
    public static let peerAddress = "10.231.77.2"
    public static let boxAddress = "10.231.79.2"
    public static var boxPath: String { "/run/netns/" + boxNamespace }

    /// The ip(8) invocations, in order: namespaces, veth pairs, addresses,
    /// links up, routes. Plain values, tested without root.
    public static var setupCommands: [[String]] {
        [
            ["netns", "add", peerNamespace],
            ["link", "add", "gbx-pr0", "type", "veth", "peer", "name", "gbx-pr1", "netns", peerNamespace],
            ["addr", "add", "10.231.77.1/30", "dev", "gbx-pr0"],
            ["link", "set", "gbx-pr0", "up"],
            ["-n", peerNamespace, "addr", "add", peerAddress + "/30", "dev", "gbx-pr1"],
            ["-n", peerNamespace, "link", "set", "gbx-pr1", "up"],
            ["-n", peerNamespace, "link", "set", "lo", "up"],
            // The peer answers everyone: bridge-networked containers come NATed from
            // 10.231.77.1, namespace-joined ones routed from 10.231.79.2.
            ["-n", peerNamespace, "route", "add", "default", "via", "10.231.77.1"],
            ["netns", "add", boxNamespace],
            ["link", "add", "gbx-bx0", "type", "veth", "peer", "name", "gbx-bx1", "netns", boxNamespace],
            ["addr", "add", "10.231.79.1/30", "dev", "gbx-bx0"],
            ["link", "set", "gbx-bx0", "up"],
            ["-n", boxNamespace, "addr", "add", boxAddress + "/30", "dev", "gbx-bx1"],
            ["-n", boxNamespace, "link", "set", "gbx-bx1", "up"],
            ["-n", boxNamespace, "link", "set", "lo", "up"],
            ["-n", boxNamespace, "route", "add", "default", "via", "10.231.79.1"],
        ]
    }

    /// Deleting a namespace deletes its veth ends, and with them the host's.
    public static var teardownCommands: [[String]] {
        [["netns", "del", peerNamespace], ["netns", "del", boxNamespace]]
    }

    /// iptables(8) rules letting the host forward between the box and the peer:
    /// Docker sets the FORWARD policy to DROP, which would silently eat the pings.
    /// Inserted by `ensure`, deleted (`-D`) by `teardown`.
    public static var forwardRules: [[String]] {
        [["FORWARD", "-i", "gbx-bx0", "-o", "gbx-pr0", "-j", "ACCEPT"], ["FORWARD", "-i", "gbx-pr0", "-o", "gbx-bx0", "-j", "ACCEPT"]]
    }

    public static var isSetUp: Bool {
        FileManager.default.fileExists(atPath: "/run/netns/" + peerNamespace) && FileManager.default.fileExists(atPath: boxPath)
    }

    /// Sets the namespaces up unless they are; forwarding on, so the host routes
    /// between the box, the managers' bridges and the peer.
    public static func ensure() async throws(BenchError) {
        if isSetUp { return }
        await teardown()
        try await HostNetworkSetup.apply(ip: setupCommands, insertRules: forwardRules) { await teardown() }
        do {
            try "1\n".write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
        } catch {
            throw .setupFailed(step: "sysctl net.ipv4.ip_forward=1", reason: "\(error)")
        }
    }

    public static func teardown() async {
        for rule in forwardRules { _ = try? await Tool.output("/usr/sbin/iptables", ["-D"] + rule) }
        for argv in teardownCommands { _ = try? await Tool.output("/usr/sbin/ip", argv) }
    }
}
