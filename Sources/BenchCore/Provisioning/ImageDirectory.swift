import Foundation

/// Image name → rootfs directory, for the runtimes that use a directory in place
/// (crun, runc, bwrap, LXC's base containers, gradebox). Backed by a small JSON file
/// so `setup` and a later `bench` run agree.
public struct ImageDirectory: Sendable {
    public let indexPath: String
    public init(indexPath: String = ProvisionState.dataDirectory + "/images.json") { self.indexPath = indexPath }

    public func all() -> [String: String] {
        guard let d = FileManager.default.contents(atPath: indexPath),
              let m = try? JSONDecoder().decode([String: String].self, from: d) else { return [:] }
        return m
    }

    public func rootfs(_ name: String) throws(BenchError) -> String {
        if name.hasPrefix("/") { return name }
        guard let path = all()[name] else {
            throw .file(indexPath, reason: "no image \(name) (run `gradebox bench setup` first); known: \(all().keys.sorted().joined(separator: ", "))")
        }
        return path
    }

    public func register(_ name: String, rootfs: String) throws(BenchError) {
        var m = all()
        m[name] = rootfs
        do {
            try FileManager.default.createDirectory(atPath: (indexPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: indexPath), options: .atomic)
        } catch {
            throw .file(indexPath, reason: "\(error)")
        }
    }
}
