import Foundation

extension Provisioner {
    /// A containerd of our own (the Docker daemons run theirs privately), CRI off.
    func containerd() async throws(BenchError) {
        let socket = ProvisionState.directory + "/containerd.sock"
        let configPath = ProvisionState.directory + "/containerd.toml"
        let log = ProvisionState.directory + "/containerd.log"
        let text = ContainerdDriver.config(root: ProvisionState.dataDirectory + "/containerd",
                                           state: ProvisionState.directory + "/containerd", socket: socket)
        do { try text.write(toFile: configPath, atomically: true, encoding: .utf8) } catch { throw .file(configPath, reason: "\(error)") }
        let pid = try await startDaemon(["/usr/bin/containerd", "--config", configPath], log: log)
        try record("containerd", .init(pid: pid, socket: socket, detail: ["log": log]))
        let deadline = Monotonic.now() + 30_000_000_000
        while Monotonic.now() < deadline {
            if (try? await Tool.output("/usr/bin/ctr", ["-a", socket, "version"])) != nil { return }
            if kill(pid, 0) != 0 { throw .setupFailed(step: "containerd", reason: "it exited; see \(log)") }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        throw .timeout("containerd on \(socket)", seconds: 30)
    }
}
