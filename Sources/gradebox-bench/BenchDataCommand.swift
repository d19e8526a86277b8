import ArgumentParser
import BenchCore
import Foundation

struct BenchDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "The I/O experiments' workload data.",
        subcommands: [BenchDataGenerateCommand.self])
}

struct BenchDataGenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate the TPC-C databases and file sets (deterministic from the seed; redoes only what is missing or stale).")

    @Option(name: .long, help: "Data directory.")
    var out: String = WorkloadImages().store.directory

    @Option(name: .long, parsing: .upToNextOption,
            help: "Only these datasets (db:151.6kB ... db:111.6MB, files:10 ... files:100000); all by default.")
    var only: [String] = []

    @Option(name: .long, help: "Seed (the published datasets use the default).")
    var seed: UInt64 = WorkloadCatalog.defaultSeed

    func run() async throws {
        let datasets: [WorkloadDataset]?
        do {
            datasets = only.isEmpty ? nil : try only.flatMap { $0.split(separator: ",") }.map { try WorkloadCatalog.dataset(named: String($0)) }
        } catch {
            throw ValidationError("\(error)")  // lists the valid names
        }
        let store = WorkloadStore(directory: out, seed: seed)
        let result = try await store.generate(only: datasets) { p in
            switch p.event {
            case .upToDate: FileHandle.standardError.write(Data("\(p.dataset.name): up to date\n".utf8))
            case .started: FileHandle.standardError.write(Data("\(p.dataset.name): generating\n".utf8))
            case .advanced: break
            case .finished(let seconds): FileHandle.standardError.write(Data("\(p.dataset.name): done in \(String(format: "%.1f", seconds)) s\n".utf8))
            }
        }
        for e in result.entries {
            print("\(e.dataset.name)\t\(e.bytes) bytes\t\(e.generated ? String(format: "generated in %.1f s", e.seconds) : "up to date")\t\(store.path(of: e.dataset))")
        }
        print(String(format: "total %.1f s", result.seconds))
    }
}
