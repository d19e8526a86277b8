#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SandboxCore

/// Starts a command the way a shell or hyperfine does and collects its output:
/// posix_spawn, then poll on the two pipes, then waitpid, on a thread of its own.
///
/// Why not swift-subprocess, which `Tool` used for every command before: on
/// Linux it forks with clone3 and no CLONE_VM, so each trial copied the page
/// tables of this large process (NIO, GRDB, the report) before the candidate's
/// own binary even started, on a kind of VM where page-table work is dear.
/// glibc's posix_spawn clones with CLONE_VM|CLONE_VFORK: nothing is copied.
/// Measured with the old and new bench alternating, three batches each of 40
/// runs: crun 13.17 -> 12.67 ms, bwrap 4.97 -> 4.91 ms (medians); smaller than
/// a first, non-interleaved comparison suggested, within noise for bwrap.
/// Commands run as another user (uid/gid) still go through swift-subprocess.
enum Spawn {
    /// Bytes kept per stream; the rest is read and dropped (a tool's output, not a trial's result).
    static let keptBytes = 4 << 20

    /// Set around a timed trial: its processes are started and waited for on
    /// the calling thread. The runner runs one trial at a time, and the hop to
    /// a thread and back to the task, two cross-CPU wake-ups, were counted
    /// against every process-based candidate.
    @TaskLocal static var onCallingThread = false

    /// Runs a timed trial with `onCallingThread` set.
    static func timed<T>(_ body: () async throws(BenchError) -> T) async throws(BenchError) -> T {
        let result: Result<T, BenchError> = await $onCallingThread.withValue(true) {
            do throws(BenchError) { return .success(try await body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    static func run(_ path: String, _ args: [String], environment: [String: String]) async throws(BenchError) -> Tool.Output {
        if onCallingThread { return try runBlocking(path, args, environment: environment) }
        return try await onOwnThread("tool \(path)") { () throws(BenchError) in try runBlocking(path, args, environment: environment) }
    }

    static func runBlocking(_ path: String, _ args: [String], environment: [String: String]) throws(BenchError) -> Tool.Output {
        let line = Tool.commandLine(path, args)
        let out: (read: Int32, write: Int32), err: (read: Int32, write: Int32)
        do throws(SandboxError) {
            out = try Kernel.pipe("stdout of \(path)")
            do throws(SandboxError) { err = try Kernel.pipe("stderr of \(path)") } catch {
                close(out.read); close(out.write)
                throw error
            }
        } catch {
            throw .toolFailed(line, status: -1, output: error.description)
        }
        var readEnds = [out.read, err.read]
        defer { for fd in readEnds where fd >= 0 { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The bench ignores SIGINT (its runner stops between trials): a tool must not inherit that.
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var env: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if environment[name] == nil { env.append(text) }
            index += 1
        }
        env += environment.map { "\($0.key)=\($0.value)" }

        var pid: pid_t = 0
        let rc = withCStrings([path] + args) { argv in
            withCStrings(env) { envp in posix_spawn(&pid, path, &actions, &attributes, argv, envp) }
        }
        close(out.write)
        close(err.write)
        guard rc == 0 else { throw .toolFailed(line, status: -1, output: "posix_spawn: \(String(cString: strerror(rc)))") }

        var kept: [[UInt8]] = [[], []]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while readEnds.contains(where: { $0 >= 0 }) {
            var fds = readEnds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in 0..<2 where readEnds[i] >= 0 && fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(readEnds[i], $0.baseAddress, $0.count) }
                if n > 0 {
                    let room = max(0, keptBytes - kept[i].count)
                    kept[i].append(contentsOf: buffer[0..<min(n, room)])
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(readEnds[i])
                    readEnds[i] = -1
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw .toolFailed(line, status: -1, output: "waitpid: \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED/WEXITSTATUS are macros Swift does not import.
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Tool.Output(status: code, stdout: String(decoding: kept[0], as: UTF8.self),
                           stderr: String(decoding: kept[1], as: UTF8.self))
    }

    /// A NULL-terminated array of C strings that lives for the call.
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        return body(pointers + [nil])
    }
}
