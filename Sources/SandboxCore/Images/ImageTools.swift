#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Subprocess
import SystemPackage

/// The external programs the image store runs (gzip, zstd, cp, sha256sum,
/// apt-get, debootstrap, busybox), through Subprocess. A non-zero exit
/// becomes `.toolFailed` carrying the command and the tail of its output.
package enum ImageTools {
    /// Absolute path of `name` in PATH (plus the sbin directories, where apt-get and debootstrap live).
    package static func which(_ name: String) -> String? {
        let path = (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin")
        for dir in path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 && !ImageFS.isDirectory(candidate) { return candidate }
        }
        return nil
    }

    static func executable(_ name: String) throws(SandboxError) -> String {
        if name.hasPrefix("/") { return name }
        guard let path = which(name) else {
            throw .hostUnsupported("\(name) is not installed (apt-get install -y \(name))")
        }
        return path
    }

    static func commandLine(_ name: String, _ arguments: [String]) -> String {
        ([name] + arguments).joined(separator: " ")
    }

    /// What a tool reads on its standard input.
    package enum Input {
        case none
        /// A descriptor the caller keeps: the tool reads it from where it stands.
        case file(FileDescriptor)
        case bytes([UInt8])
    }

    /// Runs a tool to completion and returns its standard output; stderr goes into the error.
    package static func capture(
        _ name: String, _ arguments: [String], input: Input = .none, environment: [String: String] = [:]
    ) async throws(SandboxError) -> String {
        switch input {
        case .none: try await capture(name, arguments, NoInput.none, environment)
        case .file(let fd): try await capture(name, arguments, FileDescriptorInput.fileDescriptor(fd, closeAfterSpawningProcess: false), environment)
        case .bytes(let bytes): try await capture(name, arguments, ArrayInput.array(bytes), environment)
        }
    }

    private static func capture<I: InputProtocol>(
        _ name: String, _ arguments: [String], _ input: I, _ environment: [String: String]
    ) async throws(SandboxError) -> String {
        let exe = try executable(name)
        let command = commandLine(name, arguments)
        let result: ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
        do {
            result = try await Subprocess.run(
                .path(FilePath(exe)), arguments: Arguments(arguments),
                environment: environment.isEmpty ? .inherit : .inherit.updating(environment.mapKeys()),
                input: input, output: .string(limit: 16 << 20), error: .string(limit: 1 << 20))
        } catch {
            throw .toolFailed(command, status: -1, output: "\(error)")
        }
        guard result.terminationStatus.isSuccess else {
            throw .toolFailed(command, status: status(result.terminationStatus), output: tail(result.standardError))
        }
        return result.standardOutput
    }

    /// Runs a tool, handing each line it prints (stdout and stderr merged) to `progress`.
    package static func stream(
        _ name: String, _ arguments: [String], environment: [String: String] = [:],
        progress: (@Sendable (String) -> Void)?
    ) async throws(SandboxError) {
        let exe = try executable(name)
        let command = commandLine(name, arguments)
        let result: ExecutionResult<[String], SequenceOutput, CombinedErrorOutput>
        do {
            result = try await Subprocess.run(
                .path(FilePath(exe)), arguments: Arguments(arguments),
                environment: environment.isEmpty ? .inherit : .inherit.updating(environment.mapKeys()),
                input: .none, output: .sequence, error: .combinedWithOutput
            ) { execution in
                var last: [String] = []
                for try await line in execution.standardOutput.strings() {
                    progress?(line)
                    last.append(line)
                    if last.count > 20 { last.removeFirst() }
                }
                return last
            }
        } catch {
            throw .toolFailed(command, status: -1, output: "\(error)")
        }
        guard result.terminationStatus.isSuccess else {
            throw .toolFailed(command, status: status(result.terminationStatus), output: result.closureResult.joined(separator: "\n"))
        }
    }

    /// Streams the output of `name arguments` (a decompressor reading `input`) into
    /// `consume`, chunk by chunk. When `consume` throws, the tool is killed and that error is rethrown.
    package static func pipe(
        _ name: String, _ arguments: [String], input: FileDescriptor,
        into consume: (UnsafeRawBufferPointer) throws(SandboxError) -> Void
    ) async throws(SandboxError) {
        let exe = try executable(name)
        let command = commandLine(name, arguments)
        let result: ExecutionResult<Void, SequenceOutput, StringOutput<UTF8>>
        do {
            result = try await Subprocess.run(
                .path(FilePath(exe)), arguments: Arguments(arguments),
                input: .fileDescriptor(input, closeAfterSpawningProcess: false),
                output: .sequence, error: .string(limit: 64 << 10)
            ) { execution in
                for try await chunk in execution.standardOutput {
                    try chunk.withUnsafeBytes { (bytes) throws(SandboxError) in try consume(bytes) }
                }
            }
        } catch let error as SandboxError {
            throw error
        } catch {
            throw .toolFailed(command, status: -1, output: "\(error)")
        }
        guard result.terminationStatus.isSuccess else {
            throw .toolFailed(command, status: status(result.terminationStatus), output: tail(result.standardError))
        }
    }

    static func status(_ s: TerminationStatus) -> Int32 {
        switch s {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }

    static func tail(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        return lines.suffix(10).joined(separator: "\n")
    }
}

extension Dictionary where Key == String, Value == String {
    fileprivate func mapKeys() -> [Environment.Key: String?] {
        var out: [Environment.Key: String?] = [:]
        for (k, v) in self { out[Environment.Key(stringLiteral: k)] = v }
        return out
    }
}
