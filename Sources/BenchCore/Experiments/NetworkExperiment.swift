import AsyncHTTPClient
import Foundation
import NIOCore

/// How a candidate's container gets a network for the network and ping
/// experiments: the manager's own bridge with NAT and a published port where
/// it has one (Docker, Podman), else the `gbx-box` namespace the tool set up
/// where the driver can join a namespace (crun, runc, containerd), else the
/// host's network (LXC here, bwrap, gradebox: no set-up to measure).
/// Derived from what the driver offers, so a driver never gets a network it refuses.
enum NetworkPlacement: Equatable {
    case bridge, box, host

    static func of(_ driver: any ContainerDriver) throws(BenchError) -> NetworkPlacement {
        let offered = driver.networks
        if offered.contains(.bridge) { return .bridge }
        if offered.contains(.namespace) { return .box }
        if offered.contains(.host) { return .host }
        throw .unsupported("\(driver.candidate.name): no network a peer can reach (offers only \(offered.map(\.rawValue).sorted().joined(separator: ", ")))")
    }

    /// The network a container of this placement asks its driver for.
    var request: NetworkRequest {
        switch self {
        case .bridge: .bridge
        case .box: .namespace(path: PeerNetwork.boxPath)
        case .host: .host
        }
    }
}

/// The thesis's network set-up test (section 4.2.2): lighttpd started
/// detached in the container (the exec), then t_response = the time until
/// the host first gets an HTTP 200, polled on the address the container is
/// reachable at (loopback for published ports and the host network, the
/// gbx-box veth otherwise).
public struct NetworkExperiment: Experiment {
    public var name: String { "network" }
    public var dataset: String? { nil }
    public var images: WorkloadImages
    /// How long to wait for the first 200 before the trial fails.
    public var responseTimeout: Duration = .seconds(20)

    public init(images: WorkloadImages = WorkloadImages()) { self.images = images }

    public func prepare(_ driver: any ContainerDriver) async throws(BenchError) {
        try await NetworkImages.prepare(NetworkImage(base: driver.candidate.image.rawValue), on: driver, images: images)
        if try NetworkPlacement.of(driver) == .box { try await PeerNetwork.ensure() }
    }

    public func trial(_ driver: any ContainerDriver, containerName: String) async throws(BenchError) -> TrialTiming {
        let c = driver.candidate
        guard driver.lifecycle == .full else {
            throw .unsupported("\(c.name): a one-shot driver cannot keep a server running while the host polls it")
        }
        let placement = try NetworkPlacement.of(driver)
        if placement == .box { try await PeerNetwork.ensure() }
        let containerPort: UInt16 = placement == .host ? try freePort() : 80
        let hostPort: UInt16 = placement == .bridge ? try freePort() : containerPort
        let ports = placement == .bridge ? [PortMapping(hostPort: hostPort, containerPort: containerPort)] : []
        let timeout = responseTimeout
        return try await LifecycleTrial.measure(
            driver, containerName: containerName, image: NetworkImage(base: c.image.rawValue).name,
            command: NetworkImage.serverCommand(port: containerPort), network: placement.request, publishedPorts: ports,
            detach: true, onResult: LifecycleTrial.succeeded("lighttpd", c)
        ) { handle, t async throws(BenchError) in
            let te = Monotonic.now()
            let address: (host: String, port: UInt16)
            switch placement {
            case .bridge: address = try await driver.endpoint(handle, containerPort: containerPort)
            case .box: address = (PeerNetwork.boxAddress, containerPort)
            case .host: address = ("127.0.0.1", containerPort)
            }
            try await HTTPProbe.waitFor200("http://\(address.host):\(address.port)/", timeout: timeout, what: c.name)
            let tr = t.mark("t_response")
            t.phase("response", from: te, to: tr)
        }
    }

    /// A port nothing listens on now: bind(2) port 0 on loopback and read it back.
    func freePort() throws(BenchError) -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .unsupported("socket(AF_INET): errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw .unsupported("bind(127.0.0.1:0): errno \(errno)") }
        return UInt16(bigEndian: addr.sin_port)
    }
}

/// Polls a URL until it answers 200, with AsyncHTTPClient.
enum HTTPProbe {
    static func waitFor200(_ url: String, timeout: Duration, what: String) async throws(BenchError) {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .GET
                let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(500))
                if response.status == .ok { return }
                last = "HTTP \(response.status.code)"
            } catch {
                last = "\(error)"
            }
            // Refused until lighttpd listens: poll often, the answer time is the measure.
            try? await Task.sleep(for: .milliseconds(1))
        }
        throw .timeout("\(what): first HTTP 200 from \(url) (last: \(last))", seconds: Double(timeout.components.seconds))
    }
}

/// Builds the network image's tree once (lighttpd and, on the full image,
/// ping copied from the host), then imports it like `WorkloadImages` does.
enum NetworkImages {
    static func prepare(_ image: NetworkImage, on driver: any ContainerDriver, images: WorkloadImages) async throws(BenchError) {
        let path = images.treesDirectory + "/" + image.name
        let stamp = path + ".built"
        do {
            if !FileManager.default.fileExists(atPath: stamp) {
                let base = try images.baseImages.rootfs(image.base == "full" ? BaseImage.full.imageName : BaseImage.minimal.imageName)
                let lighttpd = try await WorkloadImageBuilder.hostBinary("/usr/sbin/lighttpd", package: "lighttpd")
                let ping = image.base == "full" ? try await WorkloadImageBuilder.hostBinary("/bin/ping", package: "iputils-ping") : nil
                let plan = image.plan(baseRootfs: base, lighttpd: lighttpd, ping: ping, exists: { FileManager.default.fileExists(atPath: $0) })
                _ = try await WorkloadImageBuilder.apply(plan, staging: path)
                images.touch(stamp)
            }
        } catch let error as BenchError {
            throw error
        } catch {
            throw .setupFailed(step: "network image \(image.name)", reason: "\(error)")
        }
        try await images.importTree(image.name, rootfs: path, on: driver)
    }
}
