import ArgumentParser
import SandboxCore

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "The thesis's benchmark: every candidate stack, phase by phase.")
    func run() async throws {}
}
