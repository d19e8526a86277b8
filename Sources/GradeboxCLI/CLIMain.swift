import ArgumentParser
import Dispatch
import SandboxCore
#if canImport(Glibc)
import Glibc
#endif

/// Parses, runs, and renders errors: library errors as one line and exit
/// code 206 (usage), so they never look like a program's own exit status.
public func gradeboxMain() -> Never {
    // Before parsing: every argument after `bench` belongs to gradebox-bench, --help included.
    let args = CommandLine.arguments
    if args.count > 1 && args[1] == "bench" { execBench(Array(args.dropFirst(2))) }
    if args.count > 1 && args[1] == "grade" { execBeside("gradebox-grade", Array(args.dropFirst(2))) }
    if args.count > 1 && args[1] == "run", let invocation = FastRun.parse(args[2...]) {
        do throws(SandboxError) {
            exit(try invocation.execute())
        } catch {
            fail(error)
        }
    }
    runWithArgumentParser()
}

/// Every command but a plain `run`. A function of its own: inlined into
/// `gradeboxMain`, its async machinery's metadata (Optional<TaskPriority>)
/// was instantiated on the fast path too, before the first argument was read.
@inline(never)
private func runWithArgumentParser() -> Never {
    do {
        var command = try Gradebox.parseAsRoot()
        if var asyncCommand = command as? AsyncParsableCommand {
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var failure: Error?
            nonisolated(unsafe) var cmd = asyncCommand
            Task {
                do { try await cmd.run() } catch { failure = error }
                done.signal()
            }
            done.wait()
            asyncCommand = cmd
            if let failure { throw failure }
        } else {
            try command.run()
        }
        exit(0)
    } catch let error as SandboxError {
        fail(error)
    } catch let exit as ExitCode {
        Glibc.exit(exit.rawValue)
    } catch {
        let code = Gradebox.exitCode(for: error)
        if code == .success {
            Gradebox.exit(withError: error)   // --help, --version
        }
        let message = Gradebox.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        // `gradebox run --image minimal /bin/echo hi`: the command must come after `--`.
        let forgotSeparator = message.contains("nexpected argument") && !CommandLine.arguments.contains("--")
        fail(message, kind: "usage",
             hint: forgotSeparator ? "put the command after `--`: gradebox run --image minimal -- /bin/echo hi"
                                   : "see `gradebox help` for usage")
    }
}

func fail(_ error: SandboxError) -> Never {
    fail(error.description, kind: error.kind)
}

/// Renders a bad request: one line on stderr, or, when `--json` was asked
/// for, the one object on stdout a caller parses; exit code 206 either way.
func fail(_ message: String, kind: String, hint: String? = nil) -> Never {
    if wantsJSON {
        printJSON(ErrorRecord(error: message, kind: kind, hint: hint))
    } else {
        var text = "gradebox: \(message)\n"
        if let hint { text += "  (\(hint))\n" }
        FileHandleLite.standardError.write(text)
    }
    exit(Verdict.usageExitCode)
}

/// `--json` among the options (before `--`, after which the words are the program's).
var wantsJSON: Bool {
    CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains("--json")
}

/// What `--json` prints for a request that could not be run.
struct ErrorRecord: Encodable {
    var error: String
    /// usage, invalid_request, image_not_found, command_not_found, box_not_found, box_exists, host_unsupported, ...
    var kind: String
    var hint: String?
}

