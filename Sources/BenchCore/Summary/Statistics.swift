import Foundation

/// Order statistics and spread of one sample. Pure functions.
public struct SampleStats: Codable, Sendable, Equatable {
    public var count: Int
    public var median: Double
    public var p5: Double
    public var p95: Double
    public var min: Double
    public var max: Double
    public var mean: Double
    /// Sample standard deviation (n - 1); 0 for a single value.
    public var stddev: Double

    public init?(_ values: [Double]) {
        let v = values.filter { $0.isFinite }.sorted()
        guard !v.isEmpty else { return nil }
        count = v.count
        median = Self.quantile(v, 0.5)
        p5 = Self.quantile(v, 0.05)
        p95 = Self.quantile(v, 0.95)
        min = v[0]
        max = v[v.count - 1]
        mean = v.reduce(0, +) / Double(v.count)
        let m = mean
        stddev = v.count > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : 0
    }

    /// Linear interpolation between closest ranks (numpy's default, R type 7) on a sorted sample.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? .nan }
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
    }
}

/// One line of the summary: a candidate's phase in an experiment.
public struct SummaryRow: Codable, Sendable, Equatable {
    public var candidate: String
    public var experiment: String
    public var dataset: String?
    public var phase: String
    /// nil when every trial failed.
    public var stats: SampleStats?
    public var failures: Int
    /// median / the baseline's median for the same experiment and phase (docker/runc/overlay2/minimal).
    public var ratioToBaseline: Double?
    /// median / the fastest candidate's median for the same experiment and phase.
    public var ratioToFastest: Double?
}

public enum Summary {
    /// The phases in the order they are shown; others follow alphabetically.
    public static let phaseOrder = ["create", "start", "exec", "ready", "total", "stop", "clean", "run", "response", "rtt"]

    /// Summarises counted (non-warm-up) trials per candidate, experiment, dataset and phase.
    /// Failed trials count as failures and add no times.
    /// `candidateOrder` (the order the user named them) sorts the rows; by default, first appearance.
    public static func rows(_ records: [TrialRecord], baseline: String = Candidate.baselineName, candidateOrder: [String] = []) -> [SummaryRow] {
        struct Key: Hashable { var c, e: String; var d: String?; var p: String }
        var samples: [Key: [Double]] = [:]
        var failures: [String: Int] = [:]
        var order: [String] = candidateOrder
        for r in records where !r.warmup {
            if !order.contains(r.candidate) { order.append(r.candidate) }
            if r.outcome == .failed {
                failures["\(r.candidate)|\(r.experiment)|\(r.dataset ?? "")", default: 0] += 1
                continue
            }
            for (phase, ms) in r.phasesMs { samples[Key(c: r.candidate, e: r.experiment, d: r.dataset, p: phase), default: []].append(ms) }
        }
        // Candidates whose every trial failed still get a row, so the failure shows.
        for (k, _) in failures {
            let parts = k.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let key = Key(c: parts[0], e: parts[1], d: parts[2].isEmpty ? nil : parts[2], p: "total")
            if !samples.keys.contains(where: { $0.c == key.c && $0.e == key.e && $0.d == key.d }) { samples[key] = [] }
        }
        var rows: [SummaryRow] = []
        for (k, v) in samples {
            rows.append(SummaryRow(candidate: k.c, experiment: k.e, dataset: k.d, phase: k.p,
                                   stats: SampleStats(v),
                                   failures: failures["\(k.c)|\(k.e)|\(k.d ?? "")"] ?? 0))
        }
        for i in rows.indices {
            guard let mine = rows[i].stats?.median else { continue }
            let peers = rows.filter { $0.experiment == rows[i].experiment && $0.dataset == rows[i].dataset && $0.phase == rows[i].phase }
            if let base = peers.first(where: { $0.candidate == baseline })?.stats?.median, base > 0 {
                rows[i].ratioToBaseline = mine / base
            }
            if let fastest = peers.compactMap(\.stats?.median).min(), fastest > 0 {
                rows[i].ratioToFastest = mine / fastest
            }
        }
        func phaseRank(_ p: String) -> Int { phaseOrder.firstIndex(of: p) ?? phaseOrder.count }
        return rows.sorted {
            ($0.experiment, $0.dataset ?? "", order.firstIndex(of: $0.candidate) ?? 0, phaseRank($0.phase), $0.phase)
                < ($1.experiment, $1.dataset ?? "", order.firstIndex(of: $1.candidate) ?? 0, phaseRank($1.phase), $1.phase)
        }
    }
}

