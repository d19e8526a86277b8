import Foundation
import Subprocess

/// What `generate` reports as it goes.
public struct WorkloadProgress: Sendable {
    public enum Event: Sendable { case upToDate, started, advanced(Double), finished(seconds: Double) }
    public var dataset: WorkloadDataset
    public var event: Event
}

/// What `generate` did for each dataset.
public struct WorkloadGeneration: Sendable {
    public struct Entry: Sendable {
        public var dataset: WorkloadDataset
        /// false when the manifest showed the dataset already up to date.
        public var generated: Bool
        public var bytes: Int
        public var seconds: Double
    }
    public var entries: [Entry]
    public var seconds: Double
}

/// The manifest beside the data (`manifest.json`): seed, sizes and SHA-256 of
/// every dataset, so a later `generate` redoes only what is missing or stale.
struct WorkloadManifest: Codable, Equatable {
    static let currentFormat = "gradebox.workloads/1"
    var format = Self.currentFormat
    var seed: UInt64
    var datasets: [String: Entry] = [:]

    struct Entry: Codable, Equatable {
        /// What produced it: "tpcc fraction=1.0" or "files count=10000", so a
        /// change of generator parameters marks it stale.
        var generator: String
        /// The file the checksum covers: the .sqlite, or the file set's tar.
        var checksummed: String
        var bytes: Int
        var sha256: String
        /// Modification time (Unix seconds) seen when the checksum was taken:
        /// when it still matches, the file is not hashed again.
        var mtime: Double
        var fileCount: Int?
    }
}

/// Workload data on disk: generates, checks and locates the datasets.
public struct WorkloadStore: Sendable {
    public var directory: String
    public var seed: UInt64

    public init(directory: String, seed: UInt64 = WorkloadCatalog.defaultSeed) {
        self.directory = directory
        self.seed = seed
    }

    /// Absolute path of a dataset's main artefact: the .sqlite file, or the
    /// directory of a file set.
    public func path(of dataset: WorkloadDataset) -> String { directory + "/" + dataset.relativePaths[0] }
    /// The tar of a file set.
    public func tarPath(of dataset: WorkloadDataset) -> String? {
        dataset.kind == .files ? directory + "/" + dataset.relativePaths[1] : nil
    }

    var manifestPath: String { directory + "/manifest.json" }

    /// Generates the datasets in `only` (all by default) that are missing or
    /// stale; up-to-date ones are left alone. Databases and file sets are made
    /// in two concurrent lanes (one is CPU-bound in SQLite, the other mostly
    /// writes files), datasets within a lane one after another.
    public func generate(
        only: [WorkloadDataset]? = nil,
        progress: (@Sendable (WorkloadProgress) -> Void)? = nil
    ) async throws -> WorkloadGeneration {
        let start = ContinuousClock.now
        do {
            try FileManager.default.createDirectory(atPath: directory + "/db", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/files", withIntermediateDirectories: true)
        } catch {
            throw WorkloadError.io(operation: "mkdir(\(directory))", underlying: "\(error)")
        }
        var manifest = loadManifest()
        if manifest.seed != seed { manifest = WorkloadManifest(seed: seed) }
        let wanted = only ?? WorkloadCatalog.all

        var stale: [WorkloadDataset] = []
        var entries: [WorkloadGeneration.Entry] = []
        for dataset in wanted {
            if let entry = manifest.datasets[dataset.name], try await isUpToDate(dataset, entry) {
                entries.append(.init(dataset: dataset, generated: false, bytes: entry.bytes, seconds: 0))
                progress?(WorkloadProgress(dataset: dataset, event: .upToDate))
            } else {
                manifest.datasets[dataset.name] = nil
                stale.append(dataset)
            }
        }
        // Save the removals first: a crash mid-way must not leave an old entry vouching for a new file.
        try saveManifest(manifest)

        let lanes = [stale.filter { $0.kind == .database }, stale.filter { $0.kind == .files }]
        let made = try await withThrowingTaskGroup(of: [(WorkloadDataset, WorkloadManifest.Entry, Double)].self) { group in
            for lane in lanes where !lane.isEmpty {
                group.addTask {
                    var done: [(WorkloadDataset, WorkloadManifest.Entry, Double)] = []
                    for dataset in lane {
                        let t0 = ContinuousClock.now
                        progress?(WorkloadProgress(dataset: dataset, event: .started))
                        let entry = try await make(dataset) { progress?(WorkloadProgress(dataset: dataset, event: .advanced($0))) }
                        let seconds = (ContinuousClock.now - t0).seconds
                        progress?(WorkloadProgress(dataset: dataset, event: .finished(seconds: seconds)))
                        done.append((dataset, entry, seconds))
                    }
                    return done
                }
            }
            var all: [(WorkloadDataset, WorkloadManifest.Entry, Double)] = []
            for try await lane in group { all += lane }
            return all
        }
        for (dataset, entry, seconds) in made {
            manifest.datasets[dataset.name] = entry
            entries.append(.init(dataset: dataset, generated: true, bytes: entry.bytes, seconds: seconds))
        }
        try saveManifest(manifest)
        let order = wanted.map(\.name)
        entries.sort { order.firstIndex(of: $0.dataset.name)! < order.firstIndex(of: $1.dataset.name)! }
        return WorkloadGeneration(entries: entries, seconds: (ContinuousClock.now - start).seconds)
    }

    /// The datasets in `datasets` that are not on disk as the manifest
    /// describes them (missing or stale): an experiment names these instead
    /// of silently skipping them.
    public func missing(_ datasets: [WorkloadDataset]) async throws -> [WorkloadDataset] {
        let manifest = loadManifest()
        var out: [WorkloadDataset] = []
        for d in datasets {
            guard manifest.seed == seed, let entry = manifest.datasets[d.name], try await isUpToDate(d, entry) else {
                out.append(d)
                continue
            }
        }
        return out
    }

    static func generatorTag(_ d: WorkloadDataset) -> String {
        switch d.kind {
        case .database: return "tpcc/1 fraction=\(d.fraction ?? 1)"
        case .files: return "files/1 count=\(d.fileCount ?? 0) size=\(FileSetWriter.fileSize)"
        }
    }

    private func make(_ dataset: WorkloadDataset, progress: @escaping @Sendable (Double) -> Void) async throws -> WorkloadManifest.Entry {
        let checksummed: String
        switch dataset.kind {
        case .database:
            checksummed = path(of: dataset)
            try TPCCDatabaseWriter(scale: TPCCScale(fraction: dataset.fraction ?? 1), seed: seed)
                .write(to: checksummed, progress: progress)
        case .files:
            checksummed = tarPath(of: dataset)!
            try FileSetWriter(count: dataset.fileCount ?? 0, seed: seed)
                .write(directory: path(of: dataset), tarPath: checksummed, progress: progress)
        }
        let (bytes, mtime) = try Self.stat(checksummed)
        return WorkloadManifest.Entry(
            generator: Self.generatorTag(dataset), checksummed: String(checksummed.dropFirst(directory.count + 1)),
            bytes: bytes, sha256: try await Self.sha256(checksummed), mtime: mtime, fileCount: dataset.fileCount)
    }

    private func isUpToDate(_ dataset: WorkloadDataset, _ entry: WorkloadManifest.Entry) async throws -> Bool {
        guard entry.generator == Self.generatorTag(dataset) else { return false }
        let file = directory + "/" + entry.checksummed
        guard let (bytes, mtime) = try? Self.stat(file), bytes == entry.bytes else { return false }
        if let count = dataset.fileCount {
            let listed = (try? FileManager.default.contentsOfDirectory(atPath: path(of: dataset)).count) ?? -1
            guard listed == count else { return false }
        }
        if mtime == entry.mtime { return true }
        return try await Self.sha256(file) == entry.sha256
    }

    private func loadManifest() -> WorkloadManifest {
        guard let data = FileManager.default.contents(atPath: manifestPath),
              let m = try? JSONDecoder().decode(WorkloadManifest.self, from: data),
              m.format == WorkloadManifest.currentFormat
        else { return WorkloadManifest(seed: seed) }
        return m
    }

    private func saveManifest(_ m: WorkloadManifest) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(m).write(to: URL(fileURLWithPath: manifestPath), options: .atomic)
        } catch {
            throw WorkloadError.io(operation: "write(\(manifestPath))", underlying: "\(error)")
        }
    }

    static func stat(_ path: String) throws -> (bytes: Int, mtime: Double) {
        do {
            let a = try FileManager.default.attributesOfItem(atPath: path)
            let size = (a[.size] as? NSNumber)?.intValue ?? -1
            let mtime = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return (size, mtime)
        } catch {
            throw WorkloadError.io(operation: "stat(\(path))", underlying: "\(error)")
        }
    }

    /// SHA-256 of a file by sha256sum(1) (coreutils): BenchCore has no crypto
    /// library, and coreutils' C implementation hashes 100 MB in a fraction of a second.
    static func sha256(_ path: String) async throws -> String {
        let result = try await Subprocess.run(
            .name("sha256sum"), arguments: [path], output: .string(limit: 4096), error: .string(limit: 4096))
        guard result.terminationStatus.isSuccess, let hash = result.standardOutput.split(separator: " ").first
        else {
            throw WorkloadError.tool(
                command: "sha256sum \(path)", status: "\(result.terminationStatus)", stderr: result.standardError)
        }
        return String(hash)
    }
}

fileprivate extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
