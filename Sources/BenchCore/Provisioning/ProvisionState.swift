import Foundation

/// What `bench setup` brought up, so `teardown` stops only that and `candidates`
/// knows what is ready. Kept as JSON in `ProvisionState.path`.
public struct ProvisionState: Codable, Sendable, Equatable {
    public struct Unit: Codable, Sendable, Equatable {
        /// Daemon we started (dockerd, podman system service, containerd), if any.
        public var pid: Int32?
        /// Where its API listens.
        public var socket: String?
        /// Mount points we made for it (loop-mounted btrfs, hugetlb v1).
        public var mounts: [String] = []
        /// Loop image files we created.
        public var files: [String] = []
        public var detail: [String: String] = [:]
        public init(pid: Int32? = nil, socket: String? = nil, mounts: [String] = [], files: [String] = [], detail: [String: String] = [:]) {
            self.pid = pid
            self.socket = socket
            self.mounts = mounts
            self.files = files
            self.detail = detail
        }
    }

    public var units: [String: Unit] = [:]

    public init() {}

    public static let directory = "/run/gradebox-bench"
    public static var path: String { directory + "/state.json" }
    /// Durable data (docker data roots, btrfs image, lxc paths, bundles).
    public static let dataDirectory = "/var/lib/gradebox-bench"

    public static func load(from path: String = ProvisionState.path) -> ProvisionState {
        guard let data = FileManager.default.contents(atPath: path),
              let s = try? JSONDecoder().decode(ProvisionState.self, from: data) else { return ProvisionState() }
        return s
    }

    public func save(to path: String = ProvisionState.path) throws(BenchError) {
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .file(path, reason: "\(error)")
        }
    }

    /// Units whose daemon (if they have one) is still alive.
    public func liveUnits() -> Set<String> {
        Set(units.filter { _, u in u.pid.map { kill($0, 0) == 0 } ?? true }.keys)
    }
}
