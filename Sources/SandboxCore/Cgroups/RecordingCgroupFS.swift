#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// One call a driver made on a `CgroupFS`.
package enum CgroupFSOperation: Sendable, Equatable, CustomStringConvertible {
    case mkdir(String)
    case rmdir(String)
    case write(String, String)
    case read(String)
    case kill(Int32, signal: Int32)

    package var description: String {
        switch self {
        case .mkdir(let p): "mkdir \(p)"
        case .rmdir(let p): "rmdir \(p)"
        case .write(let p, let v): "write \(p) \(v)"
        case .read(let p): "read \(p)"
        case .kill(let pid, let s): "kill \(pid) \(s)"
        }
    }
}

/// A `CgroupFS` that records every call in order and serves canned file
/// contents, so the drivers are unit-tested without root or a cgroup mount.
/// Directories are tracked (mkdir needs the parent, fails on an existing
/// one; rmdir forgets it); files are what the test sets. A file given several
/// contents serves them in turn and then keeps serving the last, which
/// models a `cgroup.procs` that empties after a kill.
package final class RecordingCgroupFS: CgroupFS {
    private struct State {
        var operations: [CgroupFSOperation] = []
        var directories: Set<String> = []
        var files: [String: [String]] = [:]
        var failures: [String: [Int32]] = [:]
    }
    private let state = Mutex(State())

    package init(directories: [String] = [], files: [String: String] = [:]) {
        state.withLock {
            $0.directories = Set(directories)
            $0.files = files.mapValues { [$0] }
        }
    }

    /// Every call so far, in order.
    package var operations: [CgroupFSOperation] { state.withLock { $0.operations } }
    /// Only the mutating calls (mkdir, rmdir, write, kill), in order.
    package var changes: [CgroupFSOperation] {
        operations.filter { if case .read = $0 { false } else { true } }
    }
    package func clearOperations() { state.withLock { $0.operations.removeAll() } }

    package func setFile(_ path: String, _ contents: String...) {
        state.withLock { $0.files[path] = contents }
    }
    package func addDirectory(_ path: String) { _ = state.withLock { $0.directories.insert(path) } }
    package func hasDirectory(_ path: String) -> Bool { state.withLock { $0.directories.contains(path) } }

    /// Make the next call of `kind` ("mkdir", "rmdir", "write", "read", "kill")
    /// on `path` (a pid's decimal for kill) fail with `errno`, once per listed errno.
    package func fail(_ kind: String, _ path: String, errno: Int32...) {
        state.withLock { $0.failures["\(kind) \(path)", default: []] += errno }
    }

    private func takeFailure(_ kind: String, _ path: String, in s: inout State) -> Int32? {
        let key = "\(kind) \(path)"
        guard var queue = s.failures[key], !queue.isEmpty else { return nil }
        let e = queue.removeFirst()
        s.failures[key] = queue
        return e
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    package func mkdir(_ path: String) throws(SandboxError) {
        let e: Int32? = state.withLock { s in
            s.operations.append(.mkdir(path))
            if let e = takeFailure("mkdir", path, in: &s) { return e }
            if s.directories.contains(path) { return EEXIST }
            if !s.directories.contains(Self.parent(of: path)) { return ENOENT }
            s.directories.insert(path)
            return nil
        }
        if let e { throw .syscall("mkdir(\(path))", errno: e) }
    }

    package func rmdir(_ path: String) throws(SandboxError) {
        let e: Int32? = state.withLock { s in
            s.operations.append(.rmdir(path))
            if let e = takeFailure("rmdir", path, in: &s) { return e }
            return s.directories.remove(path) == nil ? ENOENT : nil
        }
        if let e { throw .syscall("rmdir(\(path))", errno: e) }
    }

    package func write(_ path: String, _ value: String) throws(SandboxError) {
        let e: Int32? = state.withLock { s in
            s.operations.append(.write(path, value))
            return takeFailure("write", path, in: &s)
        }
        if let e { throw .syscall("write(\(path), \"\(value)\")", errno: e) }
    }

    package func read(_ path: String) throws(SandboxError) -> String {
        let result: Result<String, SandboxError> = state.withLock { s in
            s.operations.append(.read(path))
            if let e = takeFailure("read", path, in: &s) { return .failure(.syscall("read(\(path))", errno: e)) }
            guard var contents = s.files[path], let first = contents.first else {
                return .failure(.syscall("open(\(path))", errno: ENOENT))
            }
            if contents.count > 1 {
                contents.removeFirst()
                s.files[path] = contents
            }
            return .success(first)
        }
        return try result.get()
    }

    package func exists(_ path: String) -> Bool {
        state.withLock { $0.directories.contains(path) || $0.files[path] != nil }
    }

    package func list(_ path: String) throws(SandboxError) -> [String] {
        let result: [String]? = state.withLock { s in
            guard s.directories.contains(path) else { return nil }
            return s.directories.filter { Self.parent(of: $0) == path }
                .map { String($0.dropFirst(path.count + 1)) }.sorted()
        }
        guard let result else { throw .syscall("opendir(\(path))", errno: ENOENT) }
        return result
    }

    package func kill(_ pid: Int32, signal: Int32) throws(SandboxError) {
        let e: Int32? = state.withLock { s in
            s.operations.append(.kill(pid, signal: signal))
            return takeFailure("kill", String(pid), in: &s)
        }
        if let e { throw .syscall("kill(\(pid), \(signal))", errno: e) }
    }

    package func pause(microseconds: UInt32) {}
}
