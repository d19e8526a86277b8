import Foundation

extension Provisioner {
    /// The rootless user with a subordinate id range and its runtime directory.
    func rootlessUser() async throws(BenchError) {
        let u = Self.rootlessUser
        if (try? await Tool.output("/usr/bin/id", ["-u", u])) == nil {
            try await Tool.output("/usr/sbin/useradd", ["-m", "-s", "/bin/sh", u])
        }
        let uid = try await Self.uid(of: u)
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            if !text.split(separator: "\n").contains(where: { $0.hasPrefix(u + ":") }) {
                let line = "\(u):\(Self.userSubidStart):65536\n"
                guard let h = FileHandle(forWritingAtPath: file) ?? (fm_create(file) ? FileHandle(forWritingAtPath: file) : nil) else {
                    throw .file(file, reason: "cannot open for writing")
                }
                h.seekToEndOfFile()
                h.write(Data(line.utf8))
                h.closeFile()
            }
        }
        let run = "/run/user/\(uid)"
        try? FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        chown(run, uid_t(uid), gid_t(try await Self.gid(of: u)))
        chmod(run, 0o700)
        try record("rootless-user", .init(detail: ["uid": String(uid)]))
    }

    private func fm_create(_ path: String) -> Bool { FileManager.default.createFile(atPath: path, contents: nil) }

    static func uid(of user: String) async throws(BenchError) -> UInt32 { try await id("-u", of: user) }

    static func gid(of user: String) async throws(BenchError) -> UInt32 { try await id("-g", of: user) }

    /// `id -u USER` or `id -g USER`, as a number.
    private static func id(_ flag: String, of user: String) async throws(BenchError) -> UInt32 {
        let s = try await Tool.output("/usr/bin/id", [flag, user])
        guard let v = UInt32(s.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw .setupFailed(step: "id \(flag) \(user)", reason: s) }
        return v
    }
}
