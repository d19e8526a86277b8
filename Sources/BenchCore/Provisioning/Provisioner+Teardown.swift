import Foundation
import SandboxCore

extension Provisioner {
    /// Stops the daemons setup started (SIGTERM, then SIGKILL after 20 s), unmounts what it
    /// mounted (btrfs loop, hugetlb v1), and forgets them. Data roots stay, so the next
    /// setup is quick; `purge` removes them too.
    public func teardown(purge: Bool = false, only: Set<String>? = nil) async -> [String] {
        var log: [String] = []
        var state = load()
        let order = state.units.keys.filter { only?.contains($0) ?? true }.sorted { a, b in rank(a) < rank(b) }
        for name in order {
            guard let unit = state.units[name] else { continue }
            if let pid = unit.pid, kill(pid, 0) == 0 {
                progress(.begin(step: "stop \(name) (pid \(pid))"))
                let t0 = Monotonic.now()
                kill(pid, SIGTERM)
                var waited = 0
                while kill(pid, 0) == 0 && waited < 200 {
                    try? await Task.sleep(nanoseconds: 100_000_000)
                    waited += 1
                    // Not our child: kill(0) stays 0 for a zombie only if we were its parent.
                }
                if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
                progress(.end(step: "stop \(name) (pid \(pid))", seconds: Double(Monotonic.now() - t0) / 1e9))
                log.append("stopped \(name) (pid \(pid))")
            }
            if let bridge = unit.detail["bridge"] {
                await Self.removeBridge(bridge)
                log.append("removed bridge \(bridge)")
            }
            if name.hasPrefix("lxc:"), let path = unit.detail["lxcpath"] {
                // Containers a run left behind (interrupted runs clean their own).
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                for n in names where n.hasPrefix("gbx-") {
                    _ = try? await Tool.run("/usr/bin/lxc-destroy", ["-P", path, "-n", n, "-f"])
                }
            }
            for m in unit.mounts.reversed() {
                // Daemons leave mounts inside their data roots (podman's overlay bind, for one).
                for inner in Self.mounts(under: m + "/") { _ = try? await Tool.run("/bin/umount", ["-l", inner]) }
                let r = try? await Tool.run("/bin/umount", [m])
                log.append(r?.status == 0 ? "unmounted \(m)" : "could not unmount \(m): \(r?.stderr ?? "")")
            }
            if purge { for f in unit.files { try? FileManager.default.removeItem(atPath: f) } }
            state.units[name] = nil
            try? state.save(to: statePath)
        }
        if only == nil {
            // Whatever is still mounted under our directories (podman's storage binds, gradebox
            // pool namespaces): deepest first.
            for m in Self.mounts(under: ProvisionState.dataDirectory + "/") + Self.mounts(under: ProvisionState.directory + "/") {
                let r = try? await Tool.run("/bin/umount", ["-l", m])
                if r?.status == 0 { log.append("unmounted \(m)") }
            }
            // The in-process gradebox's pool slots and its images' mount templates
            // held the namespaces just unmounted.
            try? FileManager.default.removeItem(atPath: ProvisionState.directory + "/gradebox/pool")
            try? FileManager.default.removeItem(atPath: ProvisionState.directory + "/gradebox/templates")
        }
        return log
    }

    /// Mount points below `prefix` from /proc/self/mountinfo, deepest first.
    static func mounts(under prefix: String, mountinfo: String? = nil) -> [String] {
        let text = mountinfo ?? Kernel.readText("/proc/self/mountinfo") ?? ""
        let points = MountInfo.parse(text).map(\.mountPoint).filter { $0.hasPrefix(prefix) }
        return Array(Set(points)).sorted { $0.count > $1.count }
    }

    /// Daemons first, then what they stored on (btrfs), then cgroup mounts.
    private func rank(_ unit: String) -> Int {
        if unit.hasPrefix("docker") || unit.hasPrefix("podman") || unit.hasPrefix("containerd") { return 0 }
        if unit.hasPrefix("lxc") { return 1 }
        if unit == "btrfs-loop" { return 2 }
        if unit == "hugetlb-v1" { return 3 }
        return 4
    }
}
