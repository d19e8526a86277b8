#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
import SystemPackage
#else
import Foundation
#endif

/// What `gradebox ps` shows about a box.
public struct BoxInfo: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Set up, its init waiting at the start gate.
        case created
        /// The program passed execve and has not ended.
        case running
        /// The program ended, or the box was stopped.
        case stopped
    }
    public var name: String
    public var image: String
    public var command: [String]
    public var status: Status
    /// Host pid of the box's init while it lives.
    public var pid: Int32?
    /// The program's exit code or signal once it ended.
    public var exitCode: Int32?
    public var signal: Int32?
    public var createdAt: Double
}

/// The record a box keeps in `<state>/boxes/<name>/state.json`.
struct BoxRecord: Codable, Sendable {
    var name: String
    var spec: SandboxSpec
    var initPid: Int32
    /// Field 22 of /proc/<pid>/stat when the box was made: tells our init
    /// apart from a later process that got the same pid.
    var initStartTime: UInt64
    var cgroup: CgroupHandle?
    var namespaces: UInt64
    var createdAt: Double
    var workdir: String
    var environment: [String]
}

/// Reads and writes box records under the state directory. Names are
/// checked here so no path outside `boxes/` is ever formed from one.
struct BoxStore {
    let directory: String
    let sys: any Syscalls

    init(stateDirectory: String, sys: any Syscalls = Kernel.live) {
        directory = stateDirectory + "/boxes"
        self.sys = sys
    }

    static func validate(name: String) throws(SandboxError) {
        let ok = !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { c in
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 45 || c == 95 || c == 46
        } && name.first != "." && name.first != "-"
        guard ok else { throw .invalidRequest("invalid box name '\(name)': use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'") }
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    func save(_ record: BoxRecord) throws(SandboxError) {
        let data: Data
        do { data = try JSONEncoder().encode(record) } catch { throw .invalidRequest("cannot encode box state: \(error)") }
        let target = path(record.name) + "/state.json"
        let tmp = target + ".tmp"
        let fd = try sys.open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        defer { sys.close(fd) }
        try sys.writeAll(fd, [UInt8](data), tmp)
        try sys.rename(tmp, to: target)
    }

    func load(_ name: String) throws(SandboxError) -> BoxRecord {
        try Self.validate(name: name)
        guard let text = try? sys.read(path(name) + "/state.json") else { throw .containerNotFound(name) }
        do { return try JSONDecoder().decode(BoxRecord.self, from: Data(text.utf8)) } catch {
            throw .invalidRequest("box \(name): unreadable state (\(path(name))/state.json): \(error)")
        }
    }

    func names() -> [String] {
        ((try? sys.entries(directory)) ?? []).map(\.name).sorted()
    }
}
