import Foundation
import NIOHTTP1

/// Docker (Engine API v1.41) and Podman (libpod API v4) on their unix sockets.
/// One driver, two dialects: the life cycle and the exec stream are the same,
/// the create body and the paths differ.
public struct EngineDriver: ContainerDriver {
    public enum Dialect: String, Sendable { case docker, libpod }

    public let candidate: Candidate
    public var lifecycle: LifecycleKind { .full }
    /// Podman joins a namespace by path; Docker cannot.
    public var networks: Set<NetworkKind> { dialect == .docker ? [.none, .bridge, .host] : [.none, .bridge, .host, .namespace] }
    let api: EngineAPI
    let dialect: Dialect
    /// Socket the image import goes to via the CLI (`docker -H` / `podman --url`).
    let socket: String

    public init(candidate: Candidate, socket: String) {
        self.candidate = candidate
        self.socket = socket
        self.dialect = candidate.manager == .podman ? .libpod : .docker
        self.api = EngineAPI(socket: socket, prefix: dialect == .docker ? "/v1.41" : "/v4.0.0/libpod")
    }

    private var limited: Bool { candidate.enforcesLimits }

    /// `tar -C rootfs -c . | docker import - NAME` (Debian's 20.10 client, explicitly:
    /// /usr/local/bin/docker may be another version) or `podman --url ... import`.
    public func importImage(_ name: String, rootfs: String) async throws(BenchError) {
        let importer = dialect == .docker
            ? "/usr/bin/docker -H unix://\(socket) import - \(name)"
            : "/usr/bin/podman --url unix://\(socket) import - \(name)"
        try await Tool.shell("tar -C '\(rootfs)' -c . | \(importer) >/dev/null")
    }

    func createBody(_ r: CreateRequest) -> [String: Any] {
        switch dialect {
        case .docker:
            var host: [String: Any] = ["Runtime": candidate.runtime.rawValue]
            switch r.network {
            case .none: host["NetworkMode"] = "none"
            case .bridge: host["NetworkMode"] = "bridge"
            case .host: host["NetworkMode"] = "host"
            case .namespace: break  // refused by requireNetwork
            }
            if limited {
                if let cpus = r.cpus { host["NanoCpus"] = Int64(cpus * 1e9) }
                if let mem = r.memoryBytes { host["Memory"] = Int64(mem) }
            }
            if !r.publishedPorts.isEmpty {
                var bindings: [String: Any] = [:]
                for p in r.publishedPorts { bindings["\(p.containerPort)/tcp"] = [["HostIp": "127.0.0.1", "HostPort": String(p.hostPort)]] }
                host["PortBindings"] = bindings
            }
            if !r.mounts.isEmpty { host["Binds"] = r.mounts.map { "\($0.source):\($0.target):\($0.writable ? "rw" : "ro")" } }
            if !r.capabilities.isEmpty { host["CapAdd"] = r.capabilities }
            var body: [String: Any] = ["Image": r.image, "Cmd": r.argv, "Env": r.environment, "HostConfig": host]
            if !r.publishedPorts.isEmpty {
                body["ExposedPorts"] = Dictionary(uniqueKeysWithValues: r.publishedPorts.map { ("\($0.containerPort)/tcp", [String: Any]()) })
            }
            return body
        case .libpod:
            var spec: [String: Any] = [
                "name": r.name, "image": r.image, "command": r.argv,
                "env": Dictionary(r.environmentPairs.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 }),
                "oci_runtime": candidate.runtime.rawValue,
            ]
            if !r.capabilities.isEmpty { spec["cap_add"] = r.capabilities }
            switch r.network {
            case .none: spec["netns"] = ["nsmode": "none"]
            case .bridge: spec["netns"] = ["nsmode": candidate.rootless ? "slirp4netns" : "bridge"]
            case .host: spec["netns"] = ["nsmode": "host"]
            case .namespace(let path): spec["netns"] = ["nsmode": "path", "value": path]
            }
            if limited {
                var res: [String: Any] = [:]
                if let mem = r.memoryBytes { res["memory"] = ["limit": Int64(mem)] }
                if let cpus = r.cpus { res["cpu"] = ["quota": Int64(cpus * 100_000), "period": 100_000] }
                spec["resource_limits"] = res
            }
            if !r.publishedPorts.isEmpty {
                spec["portmappings"] = r.publishedPorts.map {
                    ["host_ip": "127.0.0.1", "host_port": Int($0.hostPort), "container_port": Int($0.containerPort), "protocol": "tcp"] as [String: Any]
                }
            }
            if !r.mounts.isEmpty {
                spec["mounts"] = r.mounts.map {
                    ["destination": $0.target, "source": $0.source, "type": "bind", "options": $0.writable ? ["rw"] : ["ro"]] as [String: Any]
                }
            }
            return spec
        }
    }

    public func create(_ r: CreateRequest) async throws(BenchError) -> ContainerHandle {
        try requireNetwork(r)
        let path = dialect == .docker ? "/containers/create?name=\(r.name)" : "/containers/create"
        let reply = try await api.call(.POST, path, json: createBody(r))
        guard let id = reply.json()["Id"] as? String else { throw .api("POST \(path)", status: reply.status, body: "no Id in " + reply.text) }
        return ContainerHandle(id: id, name: r.name, publishedPorts: r.publishedPorts)
    }

    public func start(_ h: ContainerHandle) async throws(BenchError) {
        try await api.call(.POST, "/containers/\(h.id)/start")
    }

    public func exec(_ h: ContainerHandle, _ argv: [String], detach: Bool) async throws(BenchError) -> ExecResult {
        let created = try await api.call(.POST, "/containers/\(h.id)/exec",
                                         json: ["Cmd": argv, "AttachStdout": !detach, "AttachStderr": !detach, "Tty": false])
        guard let execID = created.json()["Id"] as? String else { throw .api("POST /containers/\(h.id)/exec", status: created.status, body: created.text) }
        let stream = try await api.call(.POST, "/exec/\(execID)/start", json: ["Detach": detach, "Tty": false])
        if detach { return ExecResult(exitCode: nil) }
        let (out, err) = EngineAPI.demultiplex(stream.body)
        let inspect = try await api.call(.GET, "/exec/\(execID)/json")
        let code = (inspect.json()["ExitCode"] as? NSNumber)?.int32Value
        return ExecResult(exitCode: code, stdout: out, stderr: err)
    }

    public func stop(_ h: ContainerHandle) async throws(BenchError) {
        // t=0: SIGKILL at once, as the thesis "simply kills all the processes"; the call returns once stopped.
        let path = dialect == .docker ? "/containers/\(h.id)/stop?t=0" : "/containers/\(h.id)/stop?timeout=0"
        try await api.call(.POST, path, accept: [304])
    }

    public func clean(_ h: ContainerHandle) async throws(BenchError) {
        let path = dialect == .docker ? "/containers/\(h.id)?force=1&v=1" : "/containers/\(h.id)?force=true&v=true"
        try await api.call(.DELETE, path, accept: [404])
    }

    public func run(_ r: CreateRequest) async throws(BenchError) -> ExecResult {
        let h = try await create(r)
        do {
            try await start(h)
            let waited = try await api.call(.POST, "/containers/\(h.id)/wait", timeout: 600)
            let code: Int32? = dialect == .docker
                ? (waited.json()["StatusCode"] as? NSNumber)?.int32Value
                : Int32(waited.text.trimmingCharacters(in: .whitespacesAndNewlines))
            let logs = try await api.call(.GET, "/containers/\(h.id)/logs?stdout=true&stderr=true")
            let (out, err) = EngineAPI.demultiplex(logs.body)
            try await clean(h)
            return ExecResult(exitCode: code, stdout: out, stderr: err)
        } catch {
            try? await clean(h)
            throw error
        }
    }

    /// GET /_ping (docker) or /libpod/_ping: whether the daemon answers.
    public func ping() async throws(BenchError) {
        try await api.call(.GET, "/_ping")
    }

    /// Whether the manager has an image of that name.
    public func hasImage(_ name: String) async -> Bool {
        (try? await api.call(.GET, "/images/\(name)/json").status) == 200
    }

    /// The daemon's version string, for the records.
    public func version() async -> String? {
        (try? await api.call(.GET, "/version").json()["Version"]) as? String
    }
}
