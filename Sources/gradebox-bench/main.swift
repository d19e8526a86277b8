import ArgumentParser
import BenchCore
import Foundation
import SandboxCore

// `gradebox bench ...` runs this executable (see BenchPassthrough in the
// gradebox target). It is separate so the sandbox CLI does not carry an HTTP
// client, SQLite and Foundation's ICU: `gradebox run` starts in a few
// milliseconds, this one in tens.

/// Library errors as one line and exit code 206, as `gradebox` renders them.
func benchMain() async -> Never {
    do {
        var command = try BenchCommand.parseAsRoot()
        if var asyncCommand = command as? AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
        exit(0)
    } catch let error as BenchError {
        fail(error.description)
    } catch let error as SandboxError {
        fail(error.description)
    } catch let code as ExitCode {
        exit(code.rawValue)
    } catch {
        if BenchCommand.exitCode(for: error) == .success { BenchCommand.exit(withError: error) }
        fail(BenchCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)")
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gradebox bench: \(message)\n".utf8))
    exit(Verdict.usageExitCode)
}

await benchMain()
