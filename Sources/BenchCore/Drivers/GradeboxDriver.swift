import Foundation
import SandboxCore

/// gradebox's own manager, in-process through SandboxCore's `Sandbox`: no CLI, no
/// daemon, so each phase is the library call itself. `gradebox-pool` takes the
/// cgroup and network namespace from the warm pool and is one-shot (`Sandbox.run(pool:)`).
public struct GradeboxDriver: ContainerDriver {
    public let candidate: Candidate
    public var lifecycle: LifecycleKind { candidate.pool || candidate.viaCLI ? .oneShot : .full }
    public var networks: Set<NetworkKind> { [.none, .host] }
    let sandbox: Sandbox
    let images: ImageDirectory

    public init(candidate: Candidate, images: ImageDirectory = ImageDirectory(), stateDirectory: String = ProvisionState.directory + "/gradebox") {
        self.candidate = candidate
        self.images = images
        self.sandbox = Sandbox(stateDirectory: stateDirectory)
    }

    public func importImage(_ name: String, rootfs: String) async throws(BenchError) {
        try images.register(name, rootfs: rootfs)
    }

    func spec(_ r: CreateRequest) throws(BenchError) -> SandboxSpec {
        try requireNetwork(r)
        let network: NetworkMode = r.network == .host ? .host : .none
        var limits = Limits(memoryBytes: r.memoryBytes, cpus: r.cpus, pids: r.pids)
        // The root is read-only, so files-write extracts into the /tmp tmpfs: as
        // large as the memory limit it is charged to (bwrap's and the engines'
        // /tmp have no size of their own), not gradebox's 64 MiB default.
        limits.tmpfsBytes = max(limits.tmpfsBytes, r.memoryBytes ?? 1 << 30)
        return SandboxSpec(
            image: try images.rootfs(r.image), command: r.argv, environment: r.environment, network: network,
            limits: limits,
            mounts: r.mounts.map { BindMount(source: $0.source, target: $0.target, writable: $0.writable) },
            capabilities: r.capabilities)
    }

    static func wrap(_ what: String, _ e: SandboxError) -> BenchError {
        .toolFailed("gradebox \(what)", status: -1, output: e.description)
    }

    static func result(_ r: RunResult) -> ExecResult {
        ExecResult(exitCode: r.verdict == .XX ? -1 : (r.exitCode ?? (r.signal.map { 128 + $0 } ?? -1)),
                   stdout: String(decoding: r.stdout, as: UTF8.self),
                   stderr: String(decoding: r.stderr, as: UTF8.self) + (r.failure.map { "\n" + $0.description } ?? ""))
    }

    public func create(_ r: CreateRequest) async throws(BenchError) -> ContainerHandle {
        let s = try spec(r)
        do { try await sandbox.create(name: r.name, spec: s) } catch { throw Self.wrap("create \(r.name)", error) }
        return ContainerHandle(id: r.name, name: r.name)
    }

    public func start(_ h: ContainerHandle) async throws(BenchError) {
        do { try await sandbox.start(name: h.id) } catch { throw Self.wrap("start \(h.id)", error) }
    }

    public func exec(_ h: ContainerHandle, _ argv: [String], detach: Bool) async throws(BenchError) -> ExecResult {
        if detach {
            do { _ = try await sandbox.execDetached(name: h.id, command: argv) } catch { throw Self.wrap("exec -d \(h.id)", error) }
            return ExecResult(exitCode: nil)
        }
        do { return Self.result(try await sandbox.exec(name: h.id, command: argv)) } catch { throw Self.wrap("exec \(h.id)", error) }
    }

    public func stop(_ h: ContainerHandle) async throws(BenchError) {
        do { try await sandbox.stop(name: h.id) } catch { throw Self.wrap("stop \(h.id)", error) }
    }

    public func clean(_ h: ContainerHandle) async throws(BenchError) {
        do { try await sandbox.delete(name: h.id) } catch {
            if case .containerNotFound = error { return }
            throw Self.wrap("delete \(h.id)", error)
        }
    }

    public func run(_ r: CreateRequest) async throws(BenchError) -> ExecResult {
        let s = try spec(r)
        if candidate.viaCLI { return try await runProcess(s) }
        do { return Self.result(try await sandbox.run(s, pool: candidate.pool)) } catch { throw Self.wrap("run", error) }
    }

    /// Before each trial (not timed), gradebox-pool waits until the box made
    /// for its next run after the last one is ready, as a grader's pool is
    /// between submissions. Back to back, a third of the runs found none yet
    /// and ran cold in a pool slot: the worker makes a box by cloning this
    /// large process, which takes longer than a run.
    public func settleWarmBoxes() {
        guard candidate.pool else { return }
        try? sandbox.settleWarmBoxes()
    }

    /// Fills the warm pool before measuring (not timed), for gradebox-pool and gradebox-cli-pool.
    public func warmPool(_ count: Int) async throws(BenchError) {
        guard candidate.pool else { return }
        do { _ = try sandbox.fillPool(count) } catch { throw Self.wrap("fillPool(\(count))", error) }
    }

    /// One `gradebox run` process with the spec as options.
    func runProcess(_ s: SandboxSpec) async throws(BenchError) -> ExecResult {
        var args = ["run", "--quiet", "--root", sandbox.stateDirectory, "--images", sandbox.images.directory,
                    "--image", s.image, "--network", s.network.rawValue]
        // gradebox-cli-pool: the slot (cgroup, network namespace) from the pool this bench filled.
        if candidate.pool { args.append("--pool") }
        if let m = s.limits.memoryBytes { args += ["--memory", String(m)] }
        if let c = s.limits.cpus { args += ["--cpus", String(c)] }
        if let p = s.limits.pids { args += ["--pids", String(p)] }
        args += ["--tmpfs-size", String(s.limits.tmpfsBytes)]
        for m in s.mounts { args += ["--mount", "\(m.source):\(m.target)" + (m.writable ? ":rw" : "")] }
        for cap in s.capabilities { args += ["--cap-add", cap] }
        let out = try await Tool.run(Self.executable, args + ["--"] + s.command)
        return ExecResult(exitCode: out.status, stdout: out.stdout, stderr: out.stderr)
    }

    /// The `gradebox` beside this `gradebox-bench` (they are built and installed together).
    static let executable: String = {
        guard let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return "gradebox" }
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("gradebox").path
    }()
}
