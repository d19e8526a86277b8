import ArgumentParser
import BenchCore
import Foundation

/// `gradebox bench`: with no subcommand, `run`. The run's options live on
/// `run`, not here: a parent's options are matched before its subcommands',
/// so `bench report FILE --out PAGE` had its `--out` taken by the run's
/// (and the page written to ./report.html).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradebox bench",
        abstract: "The thesis's benchmark: every candidate stack, phase by phase.",
        subcommands: [BenchRunCommand.self, BenchCandidates.self, BenchSetup.self, BenchTeardown.self, BenchDoctor.self,
                      BenchReportCommand.self, BenchDataCommand.self],
        defaultSubcommand: BenchRunCommand.self)
}

struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the candidates through the experiments and write the records, summary and report (the default).")

    @Option(help: "Comma-separated candidates: names (docker/crun/overlay2/minimal), aliases (crun, bwrap, gradebox, docker-rootless) or thesis numbers (#4). Default: every candidate this host can run (with --quick: the quick set).")
    var candidates: String?
    @Option(help: "Comma-separated experiments, with an optional dataset (db-read:111.6MB). Default: every experiment with every dataset (with --quick: \(BenchSuite.quickExperiments)).")
    var experiments: String?
    @Option(help: "Counted runs per candidate and experiment (default 10; with --quick \(BenchSuite.quickRuns)).") var runs: Int?
    @Option(help: "Warm-up runs, not counted (default 2; with --quick \(BenchSuite.quickWarmup)).") var warmup: Int?
    @Flag(help: ArgumentHelp("A quick version of the whole suite, within 10 minutes on a 2-core host: every experiment on small datasets, \(BenchSuite.quickRuns) runs after \(BenchSuite.quickWarmup) warm-up, on the candidates whose pairs the thesis's comparisons need (all ~50 available ones would take about an hour): \(BenchSuite.quickCandidateNames.joined(separator: ", ")). Each pair differs in one dimension: Docker's storage drivers overlay2, vfs and btrfs; the minimal against the full image; crun against runc (Docker, and driven directly); the managers (Docker, Podman, containerd, LXC); Podman rootful against rootless; gradebox cold, pooled, as a CLI and on the full image, against bwrap and the rest. Candidates not set up are set up; one that fails is recorded as failed."))
    var quick = false
    @Option(help: "Directory for the raw records (bench.jsonl), the summary (bench.json), the HTML report (report.html) and its markdown summary (report.md).")
    var out = "out/bench"
    @Option(help: "Summary file instead of OUT/bench.json; its extension picks the format (.json, .csv, .md). The raw records go beside it as .jsonl.")
    var export: String?
    @Flag(help: "Do not set up candidates that are not ready; record them as failed.") var noSetup = false
    @Option(help: ArgumentHelp("Minutes the whole run may take, set-up included (default: \(Int(BenchSuite.defaultBudgetMinutes)) for the default suite, \(Int(BenchSuite.quickBudgetMinutes)) with --quick, none when --candidates or --experiments are given). After one timed trial of every candidate and experiment, the counted runs are shared out so the run ends in time: the suites first give the quick suite's pairs (the thesis's comparisons) \(BenchSuite.comparisonRuns) runs, then cheap pairs get all --runs, dear ones fewer, every one at least one.", valueName: "minutes"))
    var budget: Double?

    func validate() throws {
        guard (runs ?? 1) > 0, (warmup ?? 0) >= 0 else { throw ValidationError("--runs must be > 0 and --warmup >= 0") }
        if let budget, !(budget > 0) { throw ValidationError("--budget must be a positive number of minutes") }
        if let export { _ = try ExportFormat.forPath(export) }
    }

    func run() async throws {
        let catalog = ExperimentCatalog.builtin.adding(WorkloadExperiments.entries())
        let chosen: [Candidate]
        if let candidates {
            chosen = try Catalog.lookupList(candidates)
        } else if quick {
            // Unavailable ones stay in: the runner records them as failed, with the reason.
            chosen = try BenchSuite.quickCandidates()
        } else {
            let facts = await HostFacts.collect(state: ProvisionState.load())
            chosen = Probe.statuses(facts: facts).filter { $0.state != .unavailable }.map(\.candidate)
        }
        let exps = try catalog.resolve(experiments ?? (quick ? BenchSuite.quickExperiments : BenchSuite.allExperiments(catalog)))
        let paths = BenchSuite.Paths(directory: out, export: export)
        let format = try ExportFormat.forPath(paths.summary)
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for dir in [paths.summary, paths.raw].map({ ($0 as NSString).deletingLastPathComponent }) where !dir.isEmpty {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
        } catch {
            throw ValidationError("mkdir(\(out)): \(error.localizedDescription)")
        }
        if export == nil {
            // The records of this run only: the report reads the whole file.
            try? FileManager.default.removeItem(atPath: paths.raw)
        }
        let flag = InterruptFlag()
        InterruptFlag.installSIGINT(flag)
        let reporter = ConsoleReporter()
        let t0 = Date()
        // The suites promise a duration; a hand-picked run takes what it takes, unless asked.
        let suite = candidates == nil && experiments == nil
        let budgetMinutes = budget ?? (suite ? (quick ? BenchSuite.quickBudgetMinutes : BenchSuite.defaultBudgetMinutes) : nil)
        // A suite fills the pairs the thesis's comparisons rest on first (the
        // quick suite is made of them only).
        let priority = suite ? try BenchSuite.comparisonPairs(catalog) : []
        let records = try await BenchRunner.run(
            BenchOptions(candidates: chosen, experiments: exps, runs: runs ?? (quick ? BenchSuite.quickRuns : 10),
                         warmup: warmup ?? (quick ? BenchSuite.quickWarmup : 2), rawPath: paths.raw, setupMissing: !noSetup,
                         budgetSeconds: budgetMinutes.map { $0 * 60 }, priority: priority, priorityRuns: BenchSuite.comparisonRuns),
            interrupt: flag, progress: reporter.runner)
        let rows = Summary.rows(records, candidateOrder: chosen.map(\.name))
        print(Export.table(rows), terminator: "")
        try Export.render(rows, host: records.first?.host ?? [:], as: format)
            .write(toFile: paths.summary, atomically: true, encoding: .utf8)
        let report = Report(records: records, source: paths.raw)
        do {
            try report.html().write(toFile: paths.html, atomically: true, encoding: .utf8)
            try report.markdown().write(toFile: paths.markdown, atomically: true, encoding: .utf8)
        } catch {
            throw ValidationError("write(\(paths.html)): \(error.localizedDescription)")
        }
        let failed = Set(records.filter { $0.outcome != .ok }.map(\.candidate))
        print(String(format: "%d trials of %d candidates x %d experiments in %.0f s (%d candidates with failures)",
                     records.count, chosen.count, exps.count, Date().timeIntervalSince(t0), failed.count))
        print("records: \(paths.raw)\nsummary: \(paths.summary)\nreport:  \(paths.html)\nmarkdown: \(paths.markdown)")
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
    static let configuration = CommandConfiguration(
        commandName: "teardown",
        abstract: "Stop the daemons setup started and what they left running (Podman's conmon processes, the rootless user's processes), and unmount what it mounted.")
    @Flag(help: "Also delete the loop image files.") var purge = false
    @Flag(help: "Only list what is running or mounted that teardown would stop or unmount.") var dryRun = false

    func validate() throws {
        if purge && dryRun { throw ValidationError("--purge and --dry-run exclude each other") }
    }

    func run() async throws {
        let provisioner = Provisioner(progress: ConsoleReporter().setup)
        if dryRun {
            let lines = provisioner.inventory()
            print(lines.isEmpty ? "nothing the benchmark set up is running or mounted" : lines.joined(separator: "\n"))
            return
        }
        for line in await provisioner.teardown(purge: purge) { print(line) }
    }
}

struct BenchDoctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Noise sources to fix before measuring.")
    func run() async throws {
        let findings = Doctor.findings(await Doctor.collect())
        for f in findings { print("\(f.level == .ok ? "ok  " : "WARN") \(f.check): \(f.detail)") }
    }
}
