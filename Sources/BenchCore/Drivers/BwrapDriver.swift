import Foundation

/// bubblewrap: a one-shot sandbox with no create/start of its own. `run` is timed
/// around the whole `bwrap` process; the image directory is bound read-only as /.
public struct BwrapDriver: ContainerDriver {
    public let candidate: Candidate
    public var lifecycle: LifecycleKind { .oneShot }
    public var networks: Set<NetworkKind> { [.none, .host] }
    let images: ImageDirectory

    public init(candidate: Candidate, images: ImageDirectory) {
        self.candidate = candidate
        self.images = images
    }

    public func importImage(_ name: String, rootfs: String) async throws(BenchError) {
        try images.register(name, rootfs: rootfs)
    }

    /// bwrap's argv for a request. Pure, for tests.
    public static func arguments(_ r: CreateRequest, rootfs: String) throws(BenchError) -> [String] {
        // --unshare-all, as the issue compares against: user, ipc, pid, net, uts, cgroup.
        var args = ["--unshare-all", "--die-with-parent", "--new-session",
                    "--ro-bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--clearenv"]
        switch r.network {
        case .none: break
        case .host: args.append("--share-net")
        case .bridge, .namespace: throw .unsupported("bwrap: no \(r.network.kind.rawValue) network (offers: none, host)")
        }
        for m in r.mounts { args += [m.writable ? "--bind" : "--ro-bind", m.source, m.target] }
        for cap in r.capabilities { args += ["--cap-add", cap.hasPrefix("CAP_") ? cap : "CAP_" + cap] }
        for (name, value) in r.environmentPairs { args += ["--setenv", name, value] }
        return args + ["--"] + r.argv
    }

    public func run(_ r: CreateRequest) async throws(BenchError) -> ExecResult {
        let out = try await Tool.run("/usr/bin/bwrap", try Self.arguments(r, rootfs: images.rootfs(r.image)))
        return ExecResult(exitCode: out.status, stdout: out.stdout, stderr: out.stderr)
    }

    public func create(_ r: CreateRequest) async throws(BenchError) -> ContainerHandle {
        throw .unsupported("bwrap has no create/start: use run")
    }
    public func start(_ h: ContainerHandle) async throws(BenchError) { throw .unsupported("bwrap has no start") }
    public func exec(_ h: ContainerHandle, _ argv: [String], detach: Bool) async throws(BenchError) -> ExecResult {
        throw .unsupported("bwrap has no exec into a running box")
    }
    public func stop(_ h: ContainerHandle) async throws(BenchError) {}
    public func clean(_ h: ContainerHandle) async throws(BenchError) {}
}
