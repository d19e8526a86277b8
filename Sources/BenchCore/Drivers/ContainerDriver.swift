import Foundation

/// One container manager (or runtime driven directly) as an experiment sees it:
/// the five phases of the thesis's Appendix A, create / start / exec / stop / clean,
/// plus a one-shot `run`.
///
/// Contract for experiment authors (hello is `HelloExperiment` in `Experiments/Experiment.swift`;
/// the I/O, database, network and ping experiments follow the same pattern):
/// - Each phase method makes exactly the manager's own call(s) for that phase and
///   nothing else (no image import, no file preparation, no logging), so an
///   experiment takes its monotonic timestamps (`Monotonic.now()`) right before
///   and right after the call: t0, t_create, t_start, t_exec as in chapter 4.2.2.
/// - Anything that is preparation (images holding workload data, bundles, peer
///   network namespaces) is done before t0 with `importImage` or by the experiment.
/// - `exec` waits for the process to finish and returns its status and output,
///   unless `detach` is set (the network experiment starts lighttpd that way:
///   the call returns once the manager has started the process).
/// - `stop` kills every process of the container; `clean` removes what `create`
///   made (storage included). `clean` must tolerate a container that never started.
/// - Drivers whose `lifecycle` is `.oneShot` (bwrap) only implement `run`; the
///   experiments then record the single phase "run".
/// - A driver throws `BenchError`; a non-zero exit of the program inside the box
///   is a result (`ExecResult.exitCode`), not an error.
public protocol ContainerDriver: Sendable {
    /// The candidate this driver instance measures, e.g. "docker/crun/overlay2/minimal".
    var candidate: Candidate { get }
    var lifecycle: LifecycleKind { get }
    /// The networks `create` and `run` accept; published ports need `.bridge`.
    var networks: Set<NetworkKind> { get }

    /// Makes the image named `name` (for example "gradebox-minimal",
    /// "gradebox-db-111.6MB-full") from a rootfs directory, replacing an older one.
    /// Docker/Podman: `tar -C rootfs -c . | import`; runtimes that use a directory
    /// directly remember the path. Not timed.
    func importImage(_ name: String, rootfs: String) async throws(BenchError)

    /// Phase 1: the container exists (storage prepared), its first process not yet running.
    func create(_ request: CreateRequest) async throws(BenchError) -> ContainerHandle
    /// Phase 2: the first process (`CreateRequest.argv`) runs.
    func start(_ handle: ContainerHandle) async throws(BenchError)
    /// Phase 3: runs `argv` in the running container.
    func exec(_ handle: ContainerHandle, _ argv: [String], detach: Bool) async throws(BenchError) -> ExecResult
    /// Phase 4: every process of the container is killed.
    func stop(_ handle: ContainerHandle) async throws(BenchError)
    /// Phase 5: everything `create` made is removed.
    func clean(_ handle: ContainerHandle) async throws(BenchError)
    /// create + start + wait + clean in one call, with `request.argv` as the program
    /// (`docker run --rm`, `crun run`, `lxc-execute`, `bwrap`, `Sandbox.run`).
    func run(_ request: CreateRequest) async throws(BenchError) -> ExecResult

    /// Where the host reaches a port published with `CreateRequest.publishedPorts`
    /// (host address and port), once the container runs.
    func endpoint(_ handle: ContainerHandle, containerPort: UInt16) async throws(BenchError) -> (host: String, port: UInt16)
}

extension ContainerDriver {
    /// Throws `unsupported` for a network (or published ports) this driver does not offer.
    public func requireNetwork(_ r: CreateRequest) throws(BenchError) {
        guard networks.contains(r.network.kind) else {
            let offered = NetworkKind.allCases.filter(networks.contains).map(\.rawValue).joined(separator: ", ")
            throw .unsupported("\(candidate.name): no \(r.network.kind.rawValue) network (offers: \(offered))")
        }
        if !r.publishedPorts.isEmpty && r.network != .bridge {
            throw .unsupported("\(candidate.name): published ports need the bridge network")
        }
    }

    public func exec(_ handle: ContainerHandle, _ argv: [String]) async throws(BenchError) -> ExecResult {
        try await exec(handle, argv, detach: false)
    }

    public func endpoint(_ handle: ContainerHandle, containerPort: UInt16) async throws(BenchError) -> (host: String, port: UInt16) {
        if let published = handle.publishedPorts.first(where: { $0.containerPort == containerPort }) {
            return ("127.0.0.1", published.hostPort)
        }
        throw .unsupported("\(candidate.name): port \(containerPort) is not published")
    }
}

/// Whether a driver has the full create / start / exec / stop / clean lifecycle.
public enum LifecycleKind: String, Sendable, Codable {
    case full
    /// Only `run`: the tool has no separate create/start (bwrap).
    case oneShot
}

/// What to create: plain values, the same for every manager.
public struct CreateRequest: Sendable, Equatable {
    /// Unique per trial; drivers use it as the container name.
    public var name: String
    /// Image name as given to `importImage` ("gradebox-minimal", "gradebox-full", ...).
    public var image: String
    /// argv of the container's first process (hello: a shell that waits;
    /// run: the program itself).
    public var argv: [String]
    public var environment: [String]
    public var network: NetworkRequest
    /// Ports published on the host's loopback (needs `network == .bridge`).
    public var publishedPorts: [PortMapping]
    /// The thesis limits every container to one CPU and 1 GiB; nil = no limit.
    /// Rootless candidates on a cgroup v1 host run without limits.
    public var cpus: Double?
    public var memoryBytes: UInt64?
    /// Task limit, where the manager sets one (gradebox, crun, runc).
    public var pids: Int?
    /// Host directories bind-mounted into the container (read-only unless writable).
    public var mounts: [VolumeMount]
    /// Capabilities granted beyond the manager's default, as Docker names them
    /// ("NET_RAW"). The ping test asks for NET_RAW, which Docker grants by
    /// default, so every candidate pings with the same rights.
    public var capabilities: [String] = []

    public init(
        name: String, image: String, argv: [String],
        environment: [String] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        network: NetworkRequest = .none, publishedPorts: [PortMapping] = [],
        cpus: Double? = 1, memoryBytes: UInt64? = 1 << 30, pids: Int? = 256, mounts: [VolumeMount] = []
    ) {
        self.pids = pids
        self.name = name
        self.image = image
        self.argv = argv
        self.environment = environment
        self.network = network
        self.publishedPorts = publishedPorts
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.mounts = mounts
    }

    /// `environment` split at the first "="; entries without one are left out.
    public var environmentPairs: [(name: String, value: String)] {
        environment.compactMap { kv in
            guard let eq = kv.firstIndex(of: "=") else { return nil }
            return (String(kv[..<eq]), String(kv[kv.index(after: eq)...]))
        }
    }

    /// The thesis's first process: a shell that never exits on its own.
    public static let waitingShell = ["/bin/sh", "-c", "while :; do sleep 1; done"]
}

public enum NetworkRequest: Sendable, Equatable {
    /// Only loopback (the thesis adds an interface only when a test needs one).
    case none
    /// The manager's default network with NAT (docker0, podman's CNI bridge, lxcbr0),
    /// needed for published ports.
    case bridge
    /// The host's network namespace.
    case host
    /// Join an existing network namespace, e.g. "/run/netns/gbx-peer" (OCI runtimes,
    /// LXC, gradebox); managers that cannot throw `BenchError.unsupported`.
    case namespace(path: String)
}

/// A `NetworkRequest` without its details, for what a driver offers.
public enum NetworkKind: String, Sendable, CaseIterable {
    case none, bridge, host, namespace
}

extension NetworkRequest {
    public var kind: NetworkKind {
        switch self {
        case .none: .none
        case .bridge: .bridge
        case .host: .host
        case .namespace: .namespace
        }
    }
}

public struct PortMapping: Sendable, Equatable, Codable {
    public var hostPort: UInt16
    public var containerPort: UInt16
    public init(hostPort: UInt16, containerPort: UInt16) {
        self.hostPort = hostPort
        self.containerPort = containerPort
    }
}

public struct VolumeMount: Sendable, Equatable, Codable {
    public var source: String
    public var target: String
    public var writable: Bool
    public init(source: String, target: String, writable: Bool = false) {
        self.source = source
        self.target = target
        self.writable = writable
    }
}

/// A created container. `id` is the manager's id (or the name when the tool has none);
/// `details` holds driver-specific values (bundle path, pid ...).
public struct ContainerHandle: Sendable, Equatable {
    public var id: String
    public var name: String
    public var publishedPorts: [PortMapping]
    public var details: [String: String]
    public init(id: String, name: String, publishedPorts: [PortMapping] = [], details: [String: String] = [:]) {
        self.id = id
        self.name = name
        self.publishedPorts = publishedPorts
        self.details = details
    }
}

public struct ExecResult: Sendable, Equatable {
    /// nil when detached or when the manager does not report it.
    public var exitCode: Int32?
    public var stdout: String
    public var stderr: String
    public init(exitCode: Int32?, stdout: String = "", stderr: String = "") {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC), the clock every phase is timed with.
public enum Monotonic {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static func ms(from start: UInt64, to end: UInt64) -> Double {
        Double(end &- start) / 1_000_000
    }
}
