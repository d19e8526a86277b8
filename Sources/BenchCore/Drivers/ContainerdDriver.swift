import Foundation

/// containerd through `ctr`, on a containerd daemon setup starts for the bench (its own
/// root, state and socket). create is `ctr containers create` (snapshot + metadata),
/// start `ctr tasks start -d --null-io`, exec `ctr tasks exec`, stop `ctr tasks delete -f`
/// (kills and waits), clean `ctr containers delete` (snapshot removed). ctr's own start-up
/// (a Go binary, ~10 ms) is inside every phase: there is no other client here.
/// Images come from the Docker overlay2 daemon (`docker save | ctr images import`).
public struct ContainerdDriver: ContainerDriver {
    public let candidate: Candidate
    /// `ctr containers create` cannot pick the runc binary (only `ctr run` can), so the
    /// crun variant is one-shot.
    public var lifecycle: LifecycleKind { candidate.runtime == .crun ? .oneShot : .full }
    /// ctr has no CNI set-up here: a new empty namespace, the host's (--net-host) or one to join (--with-ns).
    public var networks: Set<NetworkKind> { [.none, .host, .namespace] }
    let socket: String
    static let namespace = "gbx"

    public init(candidate: Candidate, socket: String) {
        self.candidate = candidate
        self.socket = socket
    }

    var base: [String] { ["-a", socket, "-n", Self.namespace] }
    static func ref(_ image: String) -> String { "docker.io/library/\(image):latest" }
    var limited: Bool { candidate.enforcesLimits }

    public func importImage(_ name: String, rootfs: String) async throws(BenchError) {
        let docker = Provisioner.dockerSocket(.overlay2)
        try await Tool.shell("/usr/bin/docker -H unix://\(docker) save \(name) | /usr/bin/ctr -a \(socket) -n \(Self.namespace) images import - >/dev/null")
    }

    static func networkFlags(_ n: NetworkRequest) -> [String] {
        switch n {
        case .none, .bridge: []
        case .host: ["--net-host"]
        case .namespace(let path): ["--with-ns", "network:" + path]
        }
    }

    public func hasImage(_ name: String) async -> Bool {
        ((try? await Tool.output("/usr/bin/ctr", base + ["images", "ls", "-q"])) ?? "").split(separator: "\n").contains { $0 == Self.ref(name) }
    }

    public func create(_ r: CreateRequest) async throws(BenchError) -> ContainerHandle {
        try requireNetwork(r)
        guard r.mounts.isEmpty else { throw .unsupported("\(candidate.name): no mounts") }
        var args = base + ["containers", "create", "--runtime", "io.containerd.runc.v2"] + Self.networkFlags(r.network)
        if limited, let mem = r.memoryBytes { args += ["--memory-limit", String(mem)] }
        // "--": ctr (urfave/cli) would read the command's own "-c" as its --config flag.
        args += ["--", Self.ref(r.image), r.name] + r.argv
        try await Tool.output("/usr/bin/ctr", args)
        return ContainerHandle(id: r.name, name: r.name)
    }

    public func start(_ h: ContainerHandle) async throws(BenchError) {
        let status = try await Tool.detached("/usr/bin/ctr", base + ["tasks", "start", "-d", "--null-io", h.id])
        if status != 0 { throw .toolFailed("ctr tasks start -d \(h.id)", status: status, output: "") }
    }

    public func exec(_ h: ContainerHandle, _ argv: [String], detach: Bool) async throws(BenchError) -> ExecResult {
        let id = "e\(UInt32.random(in: 0...UInt32.max))"
        if detach {
            let status = try await Tool.detached("/usr/bin/ctr", base + ["tasks", "exec", "-d", "--exec-id", id, "--", h.id] + argv)
            if status != 0 { throw .toolFailed("ctr tasks exec -d \(h.id)", status: status, output: "") }
            return ExecResult(exitCode: nil)
        }
        let r = try await Tool.run("/usr/bin/ctr", base + ["tasks", "exec", "--exec-id", id, "--", h.id] + argv)
        return ExecResult(exitCode: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    public func stop(_ h: ContainerHandle) async throws(BenchError) {
        let r = try await Tool.run("/usr/bin/ctr", base + ["tasks", "delete", "-f", h.id])
        if r.status != 0 && !r.stderr.contains("not found") { throw .toolFailed("ctr tasks delete -f \(h.id)", status: r.status, output: r.stderr) }
    }

    public func clean(_ h: ContainerHandle) async throws(BenchError) {
        let r = try await Tool.run("/usr/bin/ctr", base + ["containers", "delete", h.id])
        if r.status != 0 && !r.stderr.contains("not found") { throw .toolFailed("ctr containers delete \(h.id)", status: r.status, output: r.stderr) }
    }

    public func run(_ r: CreateRequest) async throws(BenchError) -> ExecResult {
        try requireNetwork(r)
        guard r.mounts.isEmpty else { throw .unsupported("\(candidate.name): no mounts") }
        var args = base + ["run", "--rm", "--runtime", "io.containerd.runc.v2"] + Self.networkFlags(r.network)
        if candidate.runtime == .crun { args += ["--runc-binary", "/usr/bin/crun"] }
        if limited {
            if let mem = r.memoryBytes { args += ["--memory-limit", String(mem)] }
            if let cpus = r.cpus { args += ["--cpus", String(cpus)] }
        }
        let out = try await Tool.run("/usr/bin/ctr", args + ["--", Self.ref(r.image), r.name] + r.argv)
        return ExecResult(exitCode: out.status, stdout: out.stdout, stderr: out.stderr)
    }

    /// containerd's config for the bench daemon: its own paths, CRI off (no kubelet here).
    public static func config(root: String, state: String, socket: String) -> String {
        """
        version = 2
        root = "\(root)"
        state = "\(state)"
        disabled_plugins = ["io.containerd.grpc.v1.cri"]
        [grpc]
          address = "\(socket)"

        """
    }
}
