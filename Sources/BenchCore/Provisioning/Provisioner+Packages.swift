import Foundation

extension Provisioner {
    /// `apt-get install -y` of what is missing, with `exit 101` in policy-rc.d first so
    /// packages do not try to start services (there is no init to talk to).
    public func installPackages(_ names: [String]) async throws(BenchError) {
        let installed = await HostFacts.installedPackages(names)
        let missing = names.filter { installed[$0] == nil }
        guard !missing.isEmpty else { return }
        progress(.note("apt-get install -y \(missing.joined(separator: " "))"))
        let policy = "/usr/sbin/policy-rc.d"
        if (try? String(contentsOfFile: policy, encoding: .utf8))?.contains("exit 101") != true {
            do {
                try "#!/bin/sh\nexit 101\n".write(toFile: policy, atomically: true, encoding: .utf8)
                chmod(policy, 0o755)
            } catch { throw .file(policy, reason: "\(error)") }
        }
        try await Tool.output("/usr/bin/apt-get", ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends"] + missing,
                              environment: ["DEBIAN_FRONTEND": "noninteractive"])
    }
}
