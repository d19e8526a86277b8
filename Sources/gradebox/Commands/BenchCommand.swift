// Sources/gradebox/Commands/BenchCommand.swift
import ArgumentParser
import BenchCore
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "The thesis's benchmark: every candidate stack, phase by phase.",
        subcommands: [BenchCandidates.self, BenchSetup.self, BenchTeardown.self, BenchDoctor.self, BenchReportCommand.self, BenchDataCommand.self])

    @Option(help: "Comma-separated candidates: names (docker/crun/overlay2/minimal), aliases (crun, bwrap, gradebox, docker-rootless) or thesis numbers (#4). Default: every candidate this host can run.")
    var candidates: String?
    @Option(help: "Comma-separated experiments, with an optional dataset (db-read:111.6MB). Default: hello.")
    var experiments = "hello"
    @Option(help: "Counted runs per candidate and experiment.") var runs = 10
    @Option(help: "Warm-up runs, not counted.") var warmup = 2
    @Option(help: "Summary file; its extension picks the format (.json, .csv, .md). The raw records go beside it as .jsonl.")
    var export = "bench-results.json"
    @Flag(help: "Do not set up candidates that are not ready; record them as failed.") var noSetup = false

    func validate() throws {
        guard runs > 0, warmup >= 0 else { throw ValidationError("--runs must be > 0 and --warmup >= 0") }
        _ = try ExportFormat.forPath(export)
    }

    func run() async throws {
        let catalog = ExperimentCatalog.builtin.adding(WorkloadExperiments.entries())
        let chosen: [Candidate]
        if let candidates {
            chosen = try Catalog.lookupList(candidates)
        } else {
            let facts = await HostFacts.collect(state: ProvisionState.load())
            chosen = Probe.statuses(facts: facts).filter { $0.state != .unavailable }.map(\.candidate)
        }
        let exps = try catalog.resolve(experiments)
        let format = try ExportFormat.forPath(export)
        let raw = ExportFormat.rawPath(for: export)
        let flag = InterruptFlag()
        InterruptFlag.installSIGINT(flag)
        let reporter = ConsoleReporter()
        let records = try await BenchRunner.run(
            BenchOptions(candidates: chosen, experiments: exps, runs: runs, warmup: warmup, rawPath: raw, setupMissing: !noSetup),
            interrupt: flag, progress: reporter.runner)
        let rows = Summary.rows(records, candidateOrder: chosen.map(\.name))
        print(Export.table(rows), terminator: "")
        try Export.render(rows, host: records.first?.host ?? [:], as: format)
            .write(toFile: export, atomically: true, encoding: .utf8)
        print("summary: \(export)  records: \(raw)")
        if flag.isSet { throw ExitCode(130) }
    }
}

struct BenchCandidates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "candidates", abstract: "Every candidate and its state on this host.")
    @Flag var json = false
    func run() async throws {
        let statuses = Probe.statuses(facts: await HostFacts.collect(state: ProvisionState.load()))
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(statuses), as: UTF8.self))
            return
        }
        for s in statuses {
            let n = s.candidate.number.map { "#\($0)" } ?? "new"
            print("\(n.padding(toLength: 4, withPad: " ", startingAt: 0)) \(s.candidate.name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(s.state.rawValue)\(s.reason.map { ": \($0)" } ?? "")")
            for note in s.notes where note.hasPrefix("cgroup") || note.hasPrefix("crun") { print("       note: \(note)") }
        }
    }
}

struct BenchSetup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "setup", abstract: "Install, configure and start what the candidates need.")
    @Argument(help: "Candidates (names, aliases, #N, comma lists).") var candidates: [String]
    func run() async throws {
        let list = try candidates.flatMap { try Catalog.lookupList($0) }
        let results = await Provisioner(progress: ConsoleReporter().setup).setup(list)
        for (c, e) in results { print("\(c.name): \(e.map { "failed: \($0)" } ?? "ready")") }
        if results.contains(where: { $0.1 != nil }) { throw ExitCode(1) }
    }
}

struct BenchTeardown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "teardown", abstract: "Stop the daemons setup started and unmount what it mounted.")
    @Flag(help: "Also delete the loop image files.") var purge = false
    func run() async throws {
        for line in await Provisioner(progress: ConsoleReporter().setup).teardown(purge: purge) { print(line) }
    }
}

struct BenchDoctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Noise sources to fix before measuring.")
    func run() async throws {
        let findings = Doctor.findings(await Doctor.collect())
        for f in findings { print("\(f.level == .ok ? "ok  " : "WARN") \(f.check): \(f.detail)") }
    }
}
