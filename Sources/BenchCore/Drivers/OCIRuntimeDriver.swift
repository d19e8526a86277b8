import Foundation

/// crun or runc driven directly through an OCI bundle: `create --bundle`, `start`,
/// `exec`, `kill` + `state`, `delete`. The image directory is the read-only root
/// (no copy: that is what "direct" means here); writes go to a tmpfs /tmp.
public struct OCIRuntimeDriver: ContainerDriver {
    public let candidate: Candidate
    public var lifecycle: LifecycleKind { .full }
    /// No manager sets up a bridge: a new empty namespace, the host's, or one to join.
    public var networks: Set<NetworkKind> { [.none, .host, .namespace] }
    let binary: String
    let images: ImageDirectory
    let bundles: String

    public init(candidate: Candidate, images: ImageDirectory, bundles: String = ProvisionState.directory + "/oci") {
        self.candidate = candidate
        self.binary = candidate.runtime == .crun ? "/usr/bin/crun" : "/usr/bin/runc"
        self.images = images
        self.bundles = bundles
    }

    public func importImage(_ name: String, rootfs: String) async throws(BenchError) {
        try images.register(name, rootfs: rootfs)
    }

    /// The bundle's config.json: the namespaces, mounts and limits a Docker container gets,
    /// minus what only a manager adds (network set-up, storage copy). Pure, for tests.
    public static func config(_ r: CreateRequest, rootfs: String, cgroupsPath: String?, limited: Bool) -> [String: Any] {
        var namespaces: [[String: Any]] = [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"]]
        switch r.network {
        case .none, .bridge: namespaces.append(["type": "network"])
        case .host: break
        case .namespace(let path): namespaces.append(["type": "network", "path": path])
        }
        let caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
                    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
        var mounts: [[String: Any]] = [
            ["destination": "/proc", "type": "proc", "source": "proc"],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ["destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]],
            ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
            ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
            ["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=1g"]],
        ]
        for m in r.mounts {
            mounts.append(["destination": m.target, "type": "bind", "source": m.source, "options": ["rbind", m.writable ? "rw" : "ro"]])
        }
        var linux: [String: Any] = [
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        ]
        var resources: [String: Any] = ["devices": [["allow": false, "access": "rwm"]]]
        if limited {
            if let mem = r.memoryBytes { resources["memory"] = ["limit": Int64(mem)] }
            if let cpus = r.cpus { resources["cpu"] = ["quota": Int64(cpus * 100_000), "period": 100_000] }
            if let pids = r.pids { resources["pids"] = ["limit": Int64(pids)] }
        }
        linux["resources"] = resources
        if let cgroupsPath { linux["cgroupsPath"] = cgroupsPath }
        return [
            "ociVersion": "1.0.2",
            "process": [
                "terminal": false, "user": ["uid": 0, "gid": 0], "args": r.argv, "env": r.environment, "cwd": "/",
                "capabilities": ["bounding": caps, "effective": caps, "permitted": caps],
                "rlimits": [["type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024]],
                "noNewPrivileges": true,
            ] as [String: Any],
            "root": ["path": rootfs, "readonly": true],
            "hostname": r.name.count > 63 ? String(r.name.prefix(63)) : r.name,
            "mounts": mounts,
            "linux": linux,
        ]
    }

    func writeBundle(_ r: CreateRequest) throws(BenchError) -> String {
        let bundle = bundles + "/" + r.name
        let rootfs = try images.rootfs(r.image)
        let config = Self.config(r, rootfs: rootfs, cgroupsPath: "/gradebox-bench/\(r.name)", limited: candidate.enforcesLimits)
        do {
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        } catch {
            throw .file(bundle + "/config.json", reason: "\(error)")
        }
        return bundle
    }

    /// Writing config.json is counted in create: it is the work a manager does there.
    public func create(_ r: CreateRequest) async throws(BenchError) -> ContainerHandle {
        try requireNetwork(r)
        let bundle = try writeBundle(r)
        // stdio on /dev/null: the container's first process inherits it and would hold our pipes.
        let status = try await Tool.detached(binary, ["create", "--bundle", bundle, r.name])
        if status != 0 {
            let why = (try? await Tool.run(binary, ["create", "--bundle", bundle, r.name + "-diag"]))?.stderr ?? ""
            _ = try? await Tool.run(binary, ["delete", "-f", r.name + "-diag"])
            throw .toolFailed("\(binary) create --bundle \(bundle) \(r.name)", status: status, output: why)
        }
        return ContainerHandle(id: r.name, name: r.name, details: ["bundle": bundle])
    }

    public func start(_ h: ContainerHandle) async throws(BenchError) {
        try await Tool.output(binary, ["start", h.id])
    }

    public func exec(_ h: ContainerHandle, _ argv: [String], detach: Bool) async throws(BenchError) -> ExecResult {
        if detach {
            let status = try await Tool.detached(binary, ["exec", "-d", h.id] + argv)
            if status != 0 { throw .toolFailed("\(binary) exec -d \(h.id)", status: status, output: "") }
            return ExecResult(exitCode: nil)
        }
        let r = try await Tool.run(binary, ["exec", h.id] + argv)
        return ExecResult(exitCode: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// `kill KILL`, then `state` until the runtime reports "stopped": the container is
    /// stopped when its init is reaped, not when the signal is sent.
    public func stop(_ h: ContainerHandle) async throws(BenchError) {
        try await Tool.output(binary, ["kill", h.id, "KILL"])
        let deadline = Monotonic.now() + 10_000_000_000
        while Monotonic.now() < deadline {
            let s = try await Tool.run(binary, ["state", h.id])
            if s.status != 0 || s.stdout.contains("\"stopped\"") { return }
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
        throw .timeout("\(binary) state \(h.id) to say stopped", seconds: 10)
    }

    public func clean(_ h: ContainerHandle) async throws(BenchError) {
        let r = try await Tool.run(binary, ["delete", "-f", h.id])
        try? FileManager.default.removeItem(atPath: bundles + "/" + h.name)
        if r.status != 0 && !r.stderr.contains("does not exist") && !r.stderr.contains("not exist") {
            throw .toolFailed("\(binary) delete -f \(h.id)", status: r.status, output: r.stderr)
        }
    }

    /// `run --bundle` waits for the process and removes the container when it exits.
    public func run(_ r: CreateRequest) async throws(BenchError) -> ExecResult {
        let bundle = try writeBundle(r)
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        let out = try await Tool.run(binary, ["run", "--bundle", bundle, r.name])
        _ = try? await Tool.run(binary, ["delete", "-f", r.name])
        return ExecResult(exitCode: out.status, stdout: out.stdout, stderr: out.stderr)
    }
}
