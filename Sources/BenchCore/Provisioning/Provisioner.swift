import Foundation

/// What provisioning reports while it works: a step starts, ends (with its time), or fails.
public enum ProvisionEvent: Sendable {
    case begin(step: String)
    case end(step: String, seconds: Double)
    case failed(step: String, reason: String)
    case note(String)
}

/// `bench setup` / `bench teardown` as Swift steps, one definition per manager family.
///
/// Why not ansible playbooks as the thesis did: this host (and many CI hosts) has no
/// systemd, so the daemons are started by hand, and teardown must stop exactly the
/// daemons we started: their pids go into `ProvisionState`, which `candidates` reads
/// to say "ready". Each step checks before it acts (idempotent), is timed, and its
/// failure names the command and the object; a Python runtime and ansible-core would
/// add a dependency without doing any of the work.
public struct Provisioner: Sendable {
    public typealias Progress = @Sendable (ProvisionEvent) -> Void
    let progress: Progress
    public let statePath: String
    public static let rootlessUser = "gbxbench"
    public static let userSubidStart = 200_000

    public init(statePath: String = ProvisionState.path, progress: @escaping Progress = { _ in }) {
        self.statePath = statePath
        self.progress = progress
    }

    /// Sets up each candidate in turn; one that fails is reported with its reason and
    /// the others go on. Units shared by several candidates are brought up once.
    public func setup(_ candidates: [Candidate]) async -> [(Candidate, BenchError?)] {
        var done: [String: BenchError?] = [:]
        var out: [(Candidate, BenchError?)] = []
        let facts = await HostFacts.collect(state: ProvisionState.load(from: statePath))
        for c in candidates {
            let status = Probe.status(c, facts: facts)
            if status.state == .unavailable {
                let e = BenchError.unavailable(candidate: c.name, reason: status.reason ?? "")
                progress(.failed(step: c.name, reason: e.description))
                out.append((c, e))
                continue
            }
            var failure: BenchError?
            do throws(BenchError) {
                try await step("packages for \(c.name)") { () async throws(BenchError) in try await self.installPackages(Packages.required(for: c)) }
                for unit in Probe.units(for: c) {
                    if let previous = done[unit] {
                        if let previous { throw previous }
                        continue
                    }
                    do throws(BenchError) {
                        try await bringUp(unit)
                        done[unit] = .some(nil)
                    } catch {
                        done[unit] = .some(error)
                        throw error
                    }
                }
                try await ensureImage(c)
            } catch {
                failure = error
            }
            out.append((c, failure))
        }
        return out
    }

    /// Runs one named, timed step.
    func step(_ name: String, _ body: () async throws(BenchError) -> Void) async throws(BenchError) {
        progress(.begin(step: name))
        let t0 = Monotonic.now()
        do {
            try await body()
        } catch {
            progress(.failed(step: name, reason: error.description))
            throw error
        }
        progress(.end(step: name, seconds: Double(Monotonic.now() - t0) / 1e9))
    }

    func load() -> ProvisionState { ProvisionState.load(from: statePath) }
    func record(_ unit: String, _ u: ProvisionState.Unit) throws(BenchError) {
        var s = load()
        s.units[unit] = u
        try s.save(to: statePath)
    }

    /// Brings one unit up unless it is already live.
    public func bringUp(_ unit: String) async throws(BenchError) {
        let parts = unit.split(separator: ":", maxSplits: 1).map(String.init)
        let kind = parts[0], arg = parts.count > 1 ? parts[1] : ""
        if load().liveUnits().contains(unit) {
            guard kind == "docker", let storage = Storage(rawValue: arg), load().units[unit]?.detail["bridge"] != DockerBridge(storage).name else {
                progress(.note("\(unit): already set up"))
                return
            }
            // Started by an older gradebox with the shared docker0 bridge: restart it on its own.
            progress(.note("\(unit): daemon.json changed (own bridge): restarting"))
            _ = await teardown(only: [unit])
        }
        try await step(unit) { () async throws(BenchError) in
            switch kind {
            case "image": try await self.image(BaseImage(rawValue: arg) ?? .minimal)
            case "hugetlb-v1": try await self.hugetlbV1()
            case "btrfs-loop": try await self.btrfsLoop()
            case "rootless-user": try await self.rootlessUser()
            case "docker": try await self.docker(Storage(rawValue: arg) ?? .overlay2)
            case "docker-rootless": try await self.dockerRootless()
            case "podman": try await self.podman(Storage(rawValue: arg) ?? .overlay, rootless: false)
            case "podman-rootless": try await self.podman(Storage(rawValue: arg) ?? .overlay, rootless: true)
            case "lxc": try await self.lxc(Storage(rawValue: arg) ?? .dir)
            case "containerd": try await self.containerd()
            default: throw .setupFailed(step: unit, reason: "no such provisioning unit")
            }
        }
    }
}
