import Foundation

/// LXC through its own tools, standing in for the thesis's LXD (same runtime, the
/// manager is not packaged in Debian 12). A base container per image is prepared by
/// setup in the storage's lxcpath; create is `lxc-copy` of it (a btrfs snapshot on
/// btrfs, a copy on dir: what LXD's launch does), start `lxc-start -d`, exec
/// `lxc-attach`, stop `lxc-stop -k`, clean `lxc-destroy`.
public struct LXCDriver: ContainerDriver {
    public let candidate: Candidate
    public var lifecycle: LifecycleKind { .full }
    /// lxc.net.0.type empty (loopback only) or none (the host's); joining a namespace by path it cannot.
    public var networks: Set<NetworkKind> { [.none, .host] }
    /// `-P`: the lxcpath holding this storage's containers.
    public let lxcpath: String

    public init(candidate: Candidate, lxcpath: String? = nil) {
        self.candidate = candidate
        self.lxcpath = lxcpath ?? Self.lxcpath(for: candidate.storage)
    }

    public static func lxcpath(for storage: Storage) -> String {
        storage == .btrfs ? BtrfsLoop.mountPoint + "/lxc" : ProvisionState.dataDirectory + "/lxc-\(storage.rawValue)"
    }

    public static func baseName(_ image: String) -> String { "base-" + image }

    /// The base container's config. Pure, for tests. Limits are the thesis's
    /// (1 CPU, 1 GiB) on cgroup v1 keys; only loopback ("empty" network).
    public static func config(name: String, rootfs: String, storage: Storage, limited: Bool) -> String {
        var lines = [
            "lxc.uts.name = \(name)",
            "lxc.rootfs.path = \(storage == .btrfs ? "btrfs" : "dir"):\(rootfs)",
            "lxc.net.0.type = empty",
            "lxc.mount.auto = proc:mixed sys:ro",
            "lxc.autodev = 1",
            "lxc.tty.max = 0",
            "lxc.pty.max = 16",
            "lxc.console.path = none",
            "lxc.apparmor.profile = unconfined",
            "lxc.cap.drop = sys_module mac_admin mac_override sys_time sys_rawio",
            "lxc.mount.entry = tmpfs tmp tmpfs nosuid,nodev,mode=1777 0 0",
            "lxc.init.cmd = /bin/sh -c \"while :; do sleep 1; done\"",
        ]
        if limited {
            lines += ["lxc.cgroup.memory.limit_in_bytes = 1073741824",
                      "lxc.cgroup.cpu.cfs_period_us = 100000",
                      "lxc.cgroup.cpu.cfs_quota_us = 100000"]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Makes the base container `base-NAME` from a rootfs directory (a btrfs subvolume
    /// on btrfs, so that lxc-copy can snapshot it). Not timed.
    public func importImage(_ name: String, rootfs: String) async throws(BenchError) {
        let dir = lxcpath + "/" + Self.baseName(name)
        if FileManager.default.fileExists(atPath: dir) {
            _ = try? await Tool.run("/usr/bin/lxc-destroy", ["-P", lxcpath, "-n", Self.baseName(name), "-f"])
            if candidate.storage == .btrfs { _ = try? await Tool.run("/usr/bin/btrfs", ["subvolume", "delete", dir + "/rootfs"]) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw .file(dir, reason: "\(error)")
        }
        if candidate.storage == .btrfs {
            try await Tool.output("/usr/bin/btrfs", ["subvolume", "create", dir + "/rootfs"])
        } else {
            try? FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        }
        try await Tool.output("/bin/cp", ["-a", rootfs + "/.", dir + "/rootfs/"])
        let config = Self.config(name: Self.baseName(name), rootfs: dir + "/rootfs", storage: candidate.storage, limited: candidate.enforcesLimits)
        do { try config.write(toFile: dir + "/config", atomically: true, encoding: .utf8) } catch {
            throw .file(dir + "/config", reason: "\(error)")
        }
    }

    public func create(_ r: CreateRequest) async throws(BenchError) -> ContainerHandle {
        try requireNetwork(r)
        guard r.mounts.isEmpty else { throw .unsupported("\(candidate.name): no mounts") }
        var args = ["-P", lxcpath, "-n", Self.baseName(r.image), "-N", r.name]
        if candidate.storage == .btrfs { args.append("-s") }
        try await Tool.output("/usr/bin/lxc-copy", args)
        let argv = (try? JSONSerialization.data(withJSONObject: r.argv)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        return ContainerHandle(id: r.name, name: r.name, details: ["argv": argv, "network": r.network == .host ? "host" : "none"])
    }

    private func argv(_ h: ContainerHandle) -> [String] {
        (h.details["argv"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String]) ?? CreateRequest.waitingShell
    }

    public func start(_ h: ContainerHandle) async throws(BenchError) {
        var args = ["-P", lxcpath, "-n", h.id, "-d"]
        if h.details["network"] == "host" { args += ["-s", "lxc.net.0.type=none"] }
        let status = try await Tool.detached("/usr/bin/lxc-start", args + ["--"] + argv(h))
        if status != 0 {
            let log = (try? await Tool.run("/usr/bin/lxc-start", args + ["-l", "ERROR", "-o", "/dev/stderr", "--"] + argv(h)))?.stderr ?? ""
            throw .toolFailed("lxc-start -P \(lxcpath) -n \(h.id) -d", status: status, output: log)
        }
    }

    public func exec(_ h: ContainerHandle, _ argv: [String], detach: Bool) async throws(BenchError) -> ExecResult {
        let base = ["-P", lxcpath, "-n", h.id, "--clear-env", "-v", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--"]
        if detach {
            let status = try await Tool.detached("/usr/bin/lxc-attach", base + ["/bin/sh", "-c", "\"$@\" </dev/null >/dev/null 2>&1 &", "sh"] + argv)
            if status != 0 { throw .toolFailed("lxc-attach -n \(h.id) (detached)", status: status, output: "") }
            return ExecResult(exitCode: nil)
        }
        let r = try await Tool.run("/usr/bin/lxc-attach", base + argv)
        return ExecResult(exitCode: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    public func stop(_ h: ContainerHandle) async throws(BenchError) {
        try await Tool.output("/usr/bin/lxc-stop", ["-P", lxcpath, "-n", h.id, "-k"])
    }

    public func clean(_ h: ContainerHandle) async throws(BenchError) {
        try await Tool.output("/usr/bin/lxc-destroy", ["-P", lxcpath, "-n", h.id, "-f"])
    }

    /// Copy, `lxc-execute` (lxc's init runs the program and exits with it), destroy.
    public func run(_ r: CreateRequest) async throws(BenchError) -> ExecResult {
        let h = try await create(CreateRequest(name: r.name, image: r.image, argv: r.argv, network: r.network))
        let out: Tool.Output
        do {
            out = try await Tool.run("/usr/bin/lxc-execute", ["-P", lxcpath, "-n", h.id, "--"] + r.argv)
        } catch {
            try? await clean(h)
            throw error
        }
        try await clean(h)
        return ExecResult(exitCode: out.status, stdout: out.stdout, stderr: out.stderr)
    }
}
