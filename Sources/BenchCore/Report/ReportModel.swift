import Foundation

/// A candidate name ("docker/crun/overlay2/minimal", "podman/crun/overlay/full/rootless",
/// "crun", "gradebox-pool") split into the thesis's dimensions. The report
/// works from records alone, so it reads the dimensions back from the name.
public struct ReportCandidate: Hashable, Sendable {
    public var name: String
    /// docker, podman, lxc, containerd; "oci" for a runtime driven directly; bwrap; gradebox.
    public var manager: String
    public var runtime: String
    public var storage: String
    /// minimal or full.
    public var image: String
    public var rootless: Bool
    /// What the dimensions do not say: a tool's own flavour ("gradebox-pool",
    /// "gradebox-cli"); empty for the managers' candidates and the runtimes
    /// driven directly, which differ in their dimensions only.
    public var variant: String

    public init(_ name: String) {
        self.name = name
        let parts = name.split(separator: "/").map(String.init)
        rootless = parts.contains("rootless")
        variant = ""
        if parts.count >= 4 {
            manager = parts[0]
            runtime = parts[1]
            storage = parts[2]
            image = parts[3]
        } else {
            let tool = parts.first ?? name
            image = parts.contains("full") ? "full" : "minimal"
            storage = "rootfs"
            switch tool {
            case "crun", "runc":
                manager = "oci"
                runtime = tool
            case let t where t.hasPrefix("gradebox"):
                manager = "gradebox"
                runtime = "gradebox"
                variant = t
            default:
                manager = tool
                runtime = tool
                variant = tool
            }
        }
    }

    /// The family the thesis's manager figure compares: a manager, rootful and rootless apart.
    public var family: String { manager + (rootless ? " rootless" : "") }
    /// INGInious's configuration, the thesis's reference.
    public var isBaseline: Bool { name == Candidate.baselineName }
    /// Managers the thesis measured (LXC stands for its LXD).
    public var isThesisManager: Bool { ["docker", "podman", "lxc"].contains(manager) }
}

/// What one bar measures, computed from one trial record.
public enum ReportMetric: Hashable, Sendable {
    /// One phase as recorded: create, start, exec, response, rtt, run ...
    case phase(String)
    /// t_create + t_start: the time to a ready-to-run container (the thesis's boot criterion).
    case ready
    /// Every phase up to the answer: create + start + exec (+ response for
    /// network); a one-shot driver's single "run" phase.
    case total

    public var label: String {
        switch self {
        case .phase(let p): return p == "rtt" ? "round-trip time" : "t_\(p)"
        case .ready: return "t_create + t_start"
        case .total: return "total"
        }
    }

    public func value(_ r: TrialRecord) -> Double? {
        let p = r.phasesMs
        switch self {
        case .phase(let name): return p[name]
        case .ready:
            guard let c = p["create"], let s = p["start"] else { return nil }
            return c + s
        case .total:
            if let c = p["create"], let s = p["start"], let e = p["exec"] { return c + s + e + (p["response"] ?? 0) }
            return p["run"]
        }
    }
}

/// One bar (and one table row): a candidate's distribution for one metric,
/// or its failures when no trial succeeded.
public struct ReportBar: Sendable, Equatable {
    public var label: String
    public var candidate: String
    public var distribution: SampleStats?
    public var failed: Int
    /// The first failure's reason, as the record gives it.
    public var failureReason: String?
}

public struct ReportPanel: Sendable, Equatable {
    public var title: String
    public var experiment: String
    public var dataset: String?
    public var metric: ReportMetric
    public var bars: [ReportBar]
    /// Drawn as a chart (false: table only, e.g. the smaller datasets).
    public var chart: Bool
}

public struct ReportFigure: Sendable, Equatable {
    /// "5.1" ... "5.7" as in the thesis, "N" for network and ping (no thesis figure).
    public var id: String
    public var title: String
    /// What the thesis showed in this figure, and which candidates are compared here.
    public var caption: String
    public var panels: [ReportPanel]
}

public struct ReportBest: Sendable, Equatable {
    public var criterion: String
    /// How the criterion is scored.
    public var rule: String
    /// The lowest score.
    public var candidate: String?
    /// Candidates the winner is not ahead of beyond the noise: a tie, best score first.
    public var tied: [String] = []
    /// "crun 9.8 ms median (p5-p95 9.1-11.0), 27x faster than docker/runc/overlay2/minimal".
    public var detail: String

    /// The winner and every candidate tied with it.
    public var winners: [String] { (candidate.map { [$0] } ?? []) + tied }
}

public struct ReportConclusion: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Every pair that rises above its noise points the thesis's way.
        case confirmed
        /// Every pair that rises above its noise points the other way.
        case refuted
        /// No pair rises above its noise (or has enough runs to tell).
        case indistinct = "not distinguishable"
        /// Pairs beyond their noise point both ways.
        case mixed
        case notMeasured = "not measured"
    }
    public var figure: String
    public var claim: String
    public var status: Status
    public var evidence: String
    /// How the numbers decide, e.g. "confirmed when vfs takes at least 2x, beyond the p5–p95 ranges".
    public var rule: String = ""
    /// The fewest counted runs behind each comparison (one per pair of candidates).
    public var runs: [Int] = []

    public init(figure: String, claim: String, status: Status, evidence: String, rule: String = "", runs: [Int] = []) {
        self.figure = figure
        self.claim = claim
        self.status = status
        self.evidence = evidence
        self.rule = rule
        self.runs = runs
    }

    /// The status as the report prints it: "not distinguishable with n = 3".
    public var label: String {
        guard status == .indistinct, let lo = runs.min(), let hi = runs.max() else { return status.rawValue }
        return "not distinguishable with n = " + (lo == hi ? "\(lo)" : "\(lo)–\(hi)")
    }
}

/// The whole report, computed from trial records by pure functions; `html()`
/// and `markdown()` render it.
public struct Report: Sendable {
    public var source: String
    public var host: [(key: String, value: String)]
    /// Host facts that differ between records (the file mixes hosts or tool versions).
    public var hostConflicts: [String]
    public var trials: Int
    public var warmups: Int
    public var figures: [ReportFigure]
    public var best: [ReportBest]
    public var conclusions: [ReportConclusion]
    /// Every candidate × experiment × dataset with failed trials, and why.
    public var failures: [(candidate: String, experiment: String, count: Int, reason: String)]

    let index: RecordIndex

    public init(records: [TrialRecord], source: String = "") {
        self.source = source
        let counted = records.filter { !$0.warmup }
        trials = counted.count
        warmups = records.count - counted.count
        index = RecordIndex(counted)
        var facts: [String: Set<String>] = [:]
        for r in records { for (k, v) in r.host { facts[k, default: []].insert(v) } }
        host = facts.keys.sorted().map { ($0, facts[$0]!.sorted().joined(separator: " | ")) }
        hostConflicts = facts.keys.sorted().filter { facts[$0]!.count > 1 }
        figures = FigurePlan.figures(index)
        best = FigurePlan.best(index)
        conclusions = ThesisConclusions.evaluate(index)
        var fails: [String: (String, String, Int, String)] = [:]
        for r in counted where r.outcome == .failed {
            let exp = experimentLabel(r.experiment, r.dataset)
            let key = r.candidate + "\u{0}" + exp
            let prior = fails[key]
            fails[key] = (r.candidate, exp, (prior?.2 ?? 0) + 1, prior?.3 ?? (r.error ?? "no reason recorded"))
        }
        failures = fails.keys.sorted().map { let f = fails[$0]!; return (f.0, f.1, f.2, f.3) }
    }
}

/// Counted trials grouped by candidate, experiment and dataset.
struct RecordIndex: Sendable {
    struct Key: Hashable { var candidate: String, experiment: String, dataset: String? }
    var groups: [Key: [TrialRecord]] = [:]
    var candidates: [ReportCandidate]

    init(_ records: [TrialRecord]) {
        for r in records { groups[Key(candidate: r.candidate, experiment: r.experiment, dataset: r.dataset), default: []].append(r) }
        candidates = Set(records.map(\.candidate)).sorted().map(ReportCandidate.init)
    }

    func bar(_ candidate: String, _ experiment: String, _ dataset: String?, _ metric: ReportMetric, label: String) -> ReportBar? {
        guard let rs = groups[Key(candidate: candidate, experiment: experiment, dataset: dataset)] else { return nil }
        let ok = rs.filter { $0.outcome == .ok }.compactMap(metric.value)
        let failed = rs.filter { $0.outcome == .failed }
        guard !ok.isEmpty || !failed.isEmpty else { return nil }
        return ReportBar(
            label: label, candidate: candidate, distribution: SampleStats(ok), failed: failed.count,
            failureReason: failed.first.map { $0.error ?? "no reason recorded" })
    }

    func median(_ candidate: String, _ experiment: String, _ dataset: String?, _ metric: ReportMetric) -> SampleStats? {
        bar(candidate, experiment, dataset, metric, label: "")?.distribution
    }

    /// Datasets measured for an experiment, in the catalog's order (smallest first).
    func datasets(_ experiment: String, among: [ReportCandidate]? = nil) -> [String] {
        let names = Set((among ?? candidates).map(\.name))
        let present = Set(groups.keys.filter { $0.experiment == experiment && names.contains($0.candidate) }.compactMap(\.dataset))
        let order = (WorkloadCatalog.datasets(forExperiment: experiment) ?? []).map(\.size)
        return present.sorted { (order.firstIndex(of: $0) ?? Int.max, $0) < (order.firstIndex(of: $1) ?? Int.max, $1) }
    }

    /// The dataset of `experiment` a comparison of `a` and `b` uses: the largest
    /// on which both have enough successful runs for a verdict
    /// (`Verdict.minimumRuns`), else the largest both have any on. A suite that
    /// runs the big datasets once and the small ones five times then compares
    /// on the small ones.
    func sharedDataset(_ experiment: String, _ a: String, _ b: String, _ metric: ReportMetric) -> String? {
        // Each shared dataset with the fewer side's run count.
        let shared = datasets(experiment, among: [ReportCandidate(a), ReportCandidate(b)]).compactMap { size -> (String, Int)? in
            guard let sa = median(a, experiment, size, metric), let sb = median(b, experiment, size, metric) else { return nil }
            return (size, min(sa.count, sb.count))
        }
        return (shared.last { $0.1 >= Verdict.minimumRuns } ?? shared.last)?.0
    }

    /// t_create + t_start pooled over every experiment a candidate ran.
    func readyAnywhere(_ candidate: String) -> SampleStats? {
        SampleStats(groups.filter { $0.key.candidate == candidate }.values.flatMap { $0 }
            .filter { $0.outcome == .ok }.compactMap(ReportMetric.ready.value))
    }
}
