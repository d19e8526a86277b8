#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One trial of one experiment on one candidate: a line of the raw `.jsonl`
/// results. Summaries, tables, charts and the report are derived from these
/// records, never computed while measuring.
public struct TrialRecord: Codable, Sendable, Equatable {
    /// Format tag; readers refuse files whose records carry another one.
    public static let currentSchema = "gradebox.bench/1"
    /// The phase that stands for a trial in one number, the first a record has:
    /// ready (create + start), run (one-shot), total.
    public static let headlinePhases = ["ready", "run", "total"]

    public var schema: String
    /// Candidate name, e.g. "docker/crun/overlay2/minimal", "gradebox-pool".
    public var candidate: String
    /// Experiment name: hello, run, db-read, db-write, files-read, files-write, network, ping.
    public var experiment: String
    /// Dataset parameter of the experiment ("111.6MB", "10000"), nil for hello/run/network/ping.
    public var dataset: String?
    /// 0-based index of the counted run; warm-up trials carry `warmup == true`.
    public var run: Int
    public var warmup: Bool
    /// Phase durations in milliseconds: create, start, exec, stop, clean, response, rtt ...
    public var phasesMs: [String: Double]
    /// Absolute phase timestamps (ns since the trial's t0 on a monotonic clock).
    public var timestampsNs: [String: UInt64]
    public var outcome: Outcome
    /// Why the trial failed, when it did.
    public var error: String?
    /// Wall-clock time the trial started (Unix seconds), for ordering across files.
    public var startedAt: Double
    /// Host facts: kernel, cpu, cgroup layout, tool versions. Repeated on every
    /// line so any single line stands on its own.
    public var host: [String: String]

    public enum Outcome: String, Codable, Sendable {
        case ok, failed
    }

    public init(
        candidate: String, experiment: String, dataset: String? = nil, run: Int, warmup: Bool = false,
        phasesMs: [String: Double], timestampsNs: [String: UInt64] = [:], outcome: Outcome,
        error: String? = nil, startedAt: Double, host: [String: String]
    ) {
        self.schema = Self.currentSchema
        self.candidate = candidate
        self.experiment = experiment
        self.dataset = dataset
        self.run = run
        self.warmup = warmup
        self.phasesMs = phasesMs
        self.timestampsNs = timestampsNs
        self.outcome = outcome
        self.error = error
        self.startedAt = startedAt
        self.host = host
    }

    enum CodingKeys: String, CodingKey {
        case schema, candidate, experiment, dataset, run, warmup
        case phasesMs = "phases_ms"
        case timestampsNs = "timestamps_ns"
        case outcome, error
        case startedAt = "started_at"
        case host
    }
}
