import Foundation

/// The thesis's ping test (section 4.2.2): the round-trip time from the
/// container to a peer. The thesis pinged 1.1.1.1; here the peer is the
/// `gbx-peer` network namespace the tool sets up on this host.
///
/// Four echo requests 0.2 s apart; the first also pays for neighbour
/// resolution, so the phase "rtt" is the median of the other three.
public struct PingExperiment: Experiment {
    public var name: String { "ping" }
    public var dataset: String? { nil }
    public var images: WorkloadImages

    public init(images: WorkloadImages = WorkloadImages()) { self.images = images }

    public static let command = ["ping", "-c", "4", "-i", "0.2", "-W", "2", PeerNetwork.peerAddress]

    public func prepare(_ driver: any ContainerDriver) async throws(BenchError) {
        try await NetworkImages.prepare(NetworkImage(base: driver.candidate.image.rawValue), on: driver, images: images)
        try await PeerNetwork.ensure()
    }

    public func trial(_ driver: any ContainerDriver, containerName: String) async throws(BenchError) -> TrialTiming {
        let c = driver.candidate
        try await PeerNetwork.ensure()
        // ping opens a raw socket: Docker grants NET_RAW by default; the others get it asked for.
        return try await LifecycleTrial.measure(
            driver, containerName: containerName, image: NetworkImage(base: c.image.rawValue).name, command: Self.command,
            network: try NetworkPlacement.of(driver).request, capabilities: ["NET_RAW"]
        ) { r, t throws(BenchError) in try record(r, into: &t, c) }
    }

    func record(_ result: ExecResult, into t: inout TrialTiming, _ c: Candidate) throws(BenchError) {
        let times = Self.replyTimes(result.stdout)
        guard result.exitCode == 0, times.count >= 2 else {
            throw .toolFailed("\(c.name): \(Self.command.joined(separator: " "))", status: result.exitCode ?? -1,
                              output: String((result.stderr + result.stdout).suffix(500)))
        }
        let rest = times.dropFirst().sorted()
        t.phasesMs["rtt"] = rest[rest.count / 2]
    }

    /// The "time=0.045 ms" of every reply, as iputils' and busybox's ping print them.
    public static func replyTimes(_ output: String) -> [Double] {
        output.split(separator: "\n").compactMap { line in
            guard let r = line.range(of: "time=") else { return nil }
            let rest = line[r.upperBound...].prefix { $0.isNumber || $0 == "." }
            return Double(rest)
        }
    }
}
