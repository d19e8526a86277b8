import Foundation

/// Phase durations and timestamps of one trial, taken with `Monotonic.now()`.
public struct TrialTiming: Sendable, Equatable {
    public var phasesMs: [String: Double] = [:]
    /// ns since the trial's t0.
    public var timestampsNs: [String: UInt64] = [:]
    let t0: UInt64

    public init(t0: UInt64 = Monotonic.now()) {
        self.t0 = t0
        timestampsNs["t0"] = 0
    }

    /// Records the timestamp `name` (t_create, t_start ...) and returns it.
    @discardableResult
    public mutating func mark(_ name: String, at t: UInt64 = Monotonic.now()) -> UInt64 {
        timestampsNs[name] = t &- t0
        return t
    }

    public mutating func phase(_ name: String, from a: UInt64, to b: UInt64) {
        phasesMs[name] = Monotonic.ms(from: a, to: b)
    }
}

/// One experiment of chapter 4.2.2. The runner calls `prepare` once per candidate
/// (not timed: images with workload data, peer namespaces), then `trial` for every
/// warm-up and counted run, interleaved with other candidates, then `finish`.
/// A trial that fails throws; it must clean up what it created first (see `Hello`).
public protocol Experiment: Sendable {
    /// "hello", "run", "db-read", ...
    var name: String { get }
    /// The dataset parameter ("111.6MB", "10000"), nil when there is none.
    var dataset: String? { get }
    func prepare(_ driver: any ContainerDriver) async throws(BenchError)
    /// One trial; `containerName` is unique and starts with "gbx-".
    func trial(_ driver: any ContainerDriver, containerName: String) async throws(BenchError) -> TrialTiming
    func finish(_ driver: any ContainerDriver) async
    /// Bytes of workload data the experiment's image holds (0: none): what
    /// preparing it and running it cost grows with this, so a budgeted run
    /// takes the light experiments first.
    var workloadBytes: Int { get }
}

extension Experiment {
    public var workloadBytes: Int { 0 }
    public func prepare(_ driver: any ContainerDriver) async throws(BenchError) {}
    public func finish(_ driver: any ContainerDriver) async {}
}

/// The experiments a run can name. A value, so the CLI composes it:
/// `ExperimentCatalog.builtin.adding(<workload experiments>)`.
public struct ExperimentCatalog: Sendable {
    public struct Entry: Sendable {
        public var name: String
        /// Dataset values; an experiment named without one runs every value. Empty: no dataset.
        public var datasets: [String]
        public var make: @Sendable (_ dataset: String?) -> any Experiment
        public init(name: String, datasets: [String] = [], make: @escaping @Sendable (_ dataset: String?) -> any Experiment) {
            self.name = name
            self.datasets = datasets
            self.make = make
        }
    }

    public var entries: [Entry]
    public init(entries: [Entry]) { self.entries = entries }

    public static let builtin = ExperimentCatalog(entries: [
        Entry(name: "hello") { _ in HelloExperiment() },
        Entry(name: "run") { _ in RunExperiment() },
    ])

    public func adding(_ more: [Entry]) -> ExperimentCatalog {
        ExperimentCatalog(entries: entries.filter { e in !more.contains { $0.name == e.name } } + more)
    }

    public var names: [String] { entries.map(\.name) }

    /// "hello,db-read:111.6MB,files-write" → experiments; a name without a dataset
    /// expands to every dataset of that experiment.
    public func resolve(_ text: String) throws(BenchError) -> [any Experiment] {
        var out: [any Experiment] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let pieces = part.split(separator: ":", maxSplits: 1).map(String.init)
            guard let e = entries.first(where: { $0.name == pieces[0] }) else {
                throw .unknownExperiment(pieces[0], valid: names)
            }
            if pieces.count == 2 {
                guard e.datasets.contains(pieces[1]) else {
                    throw .unknownExperiment(part, valid: e.datasets.map { "\(e.name):\($0)" })
                }
                out.append(e.make(pieces[1]))
            } else if e.datasets.isEmpty {
                out.append(e.make(nil))
            } else {
                out += e.datasets.map { e.make($0) }
            }
        }
        return out
    }
}

/// The thesis's booting-time test: the first process is a shell that waits,
/// `/bin/echo Hello World` is executed in it, then the container is stopped and
/// cleaned, every phase timed. One-shot drivers record the single phase "run".
public struct HelloExperiment: Experiment {
    public var name: String { "hello" }
    public var dataset: String? { nil }
    public var image: BaseImage?
    public init(image: BaseImage? = nil) { self.image = image }

    public static let command = ["/bin/echo", "Hello World"]
    public static let expected = "Hello World\n"

    public func trial(_ driver: any ContainerDriver, containerName: String) async throws(BenchError) -> TrialTiming {
        let c = driver.candidate
        var t = try await LifecycleTrial.measure(driver, containerName: containerName, image: (image ?? c.image).imageName,
                                                 command: Self.command) { r, _ throws(BenchError) in try Self.check(r, c) }
        if let clean = t.timestampsNs["t_clean"] { t.phasesMs["total"] = Double(clean) / 1_000_000 }
        return t
    }

    static func check(_ r: ExecResult, _ c: Candidate) throws(BenchError) {
        guard r.exitCode == 0, r.stdout == expected else {
            throw .toolFailed("\(c.name): /bin/echo Hello World", status: r.exitCode ?? -1,
                              output: "stdout \(r.stdout.debugDescription), stderr \(r.stderr.suffix(500).debugDescription)")
        }
    }
}

/// The one-shot variant: create + start + exec + clean in one call (`docker run --rm`,
/// `crun run`, `lxc-execute`, `bwrap`, `Sandbox.run`), timed as the phase "run".
public struct RunExperiment: Experiment {
    public var name: String { "run" }
    public var dataset: String? { nil }
    public init() {}

    public func trial(_ driver: any ContainerDriver, containerName: String) async throws(BenchError) -> TrialTiming {
        let c = driver.candidate
        let request = LifecycleTrial.request(c, name: containerName, image: c.image.imageName, argv: HelloExperiment.command)
        return try await LifecycleTrial.oneShot(driver, request) { r, _ throws(BenchError) in try HelloExperiment.check(r, c) }
    }
}
