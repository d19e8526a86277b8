import ArgumentParser
import Foundation
import Grading
import SandboxCore

// `gradebox grade ...` runs this executable (see GradePassthrough in the
// gradebox target): grading reads YAML, and `gradebox run` must stay small.

@main
enum GradeMain {
    /// `gradebox grade bench ...` or `gradebox grade COURSE/TASK ...`: a task folder may not be named `bench`.
    static func main() async {
        blockChildSignals()   // before the grader's threads start: they inherit it
        if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "bench" {
            await GradeCommand.run(GradeBench.self, Array(CommandLine.arguments.dropFirst(2)))
        }
        if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "--test" {
            await GradeCommand.run(GradeTest.self, Array(CommandLine.arguments.dropFirst(2)))
        }
        await GradeCommand.run(GradeCommand.self, Array(CommandLine.arguments.dropFirst()))
    }
}

struct GradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradebox grade",
        abstract: "Grade one submission of an INGInious task in gradebox boxes, and print the result.",
        discussion: """
        The task is a folder of an INGInious course (COURSE/TASK, with its task.yaml); its environment \
        is the image labelled org.inginious.grading.name (`gradebox image build inginious-default` builds `default`). \
        Exit code: 0 when the result is success, 1 for any other result, 2 for a bad request.
        """)

    @Argument(help: "The task folder: COURSE/TASK.") var task: String
    @Option(name: .customLong("input"), help: "A problem's answer: ID=TEXT, or ID=@FILE for a file (its name and bytes) (repeatable).")
    var inputs: [String] = []
    @Flag(help: "Print the result as one JSON object.") var json = false
    @Flag(help: "INGInious's debug mode: keep the run script's stdout and stderr in the result.") var debug = false
    @Option(name: .long, help: "State directory.") var root: String = Sandbox.defaultStateDirectory
    @Option(name: .long, help: "Image store directory.") var images: String = ImageStore.defaultDirectory

    func run() async throws {
        let path = task.hasSuffix("/") ? String(task.dropLast()) : task
        guard let slash = path.lastIndex(of: "/") else { throw bad("expected COURSE/TASK, got \(task)") }
        let course = String(path[..<slash]).isEmpty ? "/" : String(path[..<slash])
        var job = GradingJob(course: course, task: String(path[path.index(after: slash)...]), inputs: [:])
        job.debug = debug
        for input in inputs {
            guard let eq = input.firstIndex(of: "="), eq != input.startIndex else { throw bad("--input: expected ID=TEXT or ID=@FILE, got '\(input)'") }
            let id = String(input[..<eq])
            let value = String(input[input.index(after: eq)...])
            if value.hasPrefix("@") {
                let file = String(value.dropFirst())
                guard let data = FileManager.default.contents(atPath: file) else { throw bad("--input \(id): cannot read \(file)") }
                job.inputs[id] = .file(name: (file as NSString).lastPathComponent, bytes: [UInt8](data))
            } else {
                job.inputs[id] = .text(value)
            }
        }
        guard FileManager.default.fileExists(atPath: job.taskDirectory + "/task.yaml") else {
            throw bad("\(job.taskDirectory)/task.yaml: no such file (expected an INGInious task folder)")
        }
        // The request's own mistakes are said here, before any box: a task file that cannot be read, an unknown problem.
        let descriptor: TaskDescriptor
        do { descriptor = try TaskDescriptor.load(job.taskDirectory + "/task.yaml") } catch { throw bad(error.description) }
        if let id = descriptor.unknownInputs(job.inputs.keys).first {
            throw bad("--input \(id): \(job.taskDirectory)/task.yaml has no problem \(id) (it has: \(descriptor.problems.map(\.id).joined(separator: ", ")))")
        }
        let grader = Grader(sandbox: Sandbox(stateDirectory: root, images: ImageStore(directory: images)))
        let result = await grader.grade(job)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print("\(result.result) (grade \(result.grade))" + (result.text.isEmpty ? "" : ": \(result.text)"))
            for (id, problem) in result.problems.sorted(by: { $0.key < $1.key }) { print("  \(id): \(problem.joined(separator: ": "))") }
            print("  phases: " + result.phases.map { "\($0.name) \(String(format: "%.1f", $0.ms)) ms" }.joined(separator: ", "))
        }
        throw ExitCode(result.result == "success" ? 0 : 1)
    }

    private func bad(_ message: String) -> ValidationError { ValidationError(message) }

    /// Bad requests (unknown option, unknown problem, unreadable file) exit 2, as `gradebox grade` promises;
    /// help and the result's own codes are ArgumentParser's.
    static func run<C: AsyncParsableCommand>(_ type: C.Type, _ arguments: [String]) async -> Never {
        do {
            var command = try type.parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand { try await asyncCommand.run() } else { try command.run() }
            Foundation.exit(0)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if type.exitCode(for: error) == .success { type.exit(withError: error) }
            FileHandle.standardError.write(Data("gradebox grade: \(type.message(for: error))\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// `gradebox grade --test COURSE [TASK...]`: INGInious's task tester.
struct GradeTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradebox grade --test",
        abstract: "Replay each task's test/*.test submissions (inginious-test-task's files) and compare the results; exit 1 on a mismatch.")

    @Argument(help: "The course folder.") var course: String
    @Argument(help: "Tasks to test (default: every task of the course that has test files).") var tasks: [String] = []
    @Option(name: .long, help: "State directory.") var root: String = Sandbox.defaultStateDirectory
    @Option(name: .long, help: "Image store directory.") var images: String = ImageStore.defaultDirectory

    func run() async throws {
        guard FileManager.default.fileExists(atPath: course) else { throw ValidationError("\(course): no such course folder") }
        let chosen = tasks.isEmpty
            ? ((try? FileManager.default.contentsOfDirectory(atPath: course)) ?? []).sorted().filter { !TaskTests.files(course: course, task: $0).isEmpty }
            : tasks
        for task in chosen where !FileManager.default.fileExists(atPath: "\(course)/\(task)/task.yaml") {
            throw ValidationError("\(course)/\(task)/task.yaml: no such file")
        }
        let grader = Grader(sandbox: Sandbox(stateDirectory: root, images: ImageStore(directory: images)))
        var failed: [String] = []
        var total = 0
        for task in chosen {
            let files = TaskTests.files(course: course, task: task)
            if files.isEmpty { print("\(task): no test files (\(course)/\(task)/test/*.test)") }
            for file in files {
                total += 1
                let outcome: TaskTests.Outcome
                do { outcome = try await TaskTests.replay(file, course: course, task: task, grader: grader) } catch {
                    throw ValidationError(error.description)
                }
                print("\(outcome.passed ? "ok  " : "FAIL") \(task)/test/\((file as NSString).lastPathComponent)")
                for m in outcome.mismatches { print("     \(m)") }
                if !outcome.passed { failed.append(file) }
            }
        }
        print("\(total - failed.count) passed, \(failed.count) failed")
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
