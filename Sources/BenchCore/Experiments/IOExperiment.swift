import Foundation

/// The thesis's I/O experiments (section 4.2.2, "Basic I/O performances"),
/// each run on one dataset baked into the image: create + start + exec, the
/// exec being the I/O itself.
public struct IOExperiment: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Select every row of every table, output discarded.
        case dbRead = "db-read"
        /// Duplicate every table (CREATE TABLE copy AS SELECT).
        case dbWrite = "db-write"
        /// Read the content of every file of the set, discarded.
        case filesRead = "files-read"
        /// Extract the set's uncompressed tar.
        case filesWrite = "files-write"

        public var datasetKind: WorkloadDataset.Kind { self == .dbRead || self == .dbWrite ? .database : .files }
    }

    public var kind: Kind
    public var image: WorkloadImage

    public init(kind: Kind, image: WorkloadImage) {
        precondition(kind.datasetKind == image.dataset.kind, "\(kind.rawValue) needs a \(kind.datasetKind.rawValue) dataset")
        self.kind = kind
        self.image = image
    }

    /// The program exec'd in the container: the image's own shell and tools
    /// (busybox in the minimal image, bash/coreutils/GNU tar in the full one),
    /// output discarded inside the container so the manager's stream does not count.
    public var command: [String] {
        let script: String
        switch kind {
        case .dbRead:
            let sql = TPCCSchema.tables.map { "SELECT * FROM \($0);" }.joined(separator: " ")
            script = "sqlite3 \(image.dataPath) '\(sql)' > /dev/null"
        case .dbWrite:
            let sql = TPCCSchema.tables.map { "CREATE TABLE \($0)_copy AS SELECT * FROM \($0);" }.joined(separator: " ")
            script = "sqlite3 \(image.dataPath) '\(sql)'"
        case .filesRead:
            // cat opens and reads every file; a glob would overflow argv at 100 000 files.
            script = "find \(image.dataPath) -type f | xargs cat > /dev/null"
        case .filesWrite:
            script = "mkdir -p \(WorkloadImage.dataRoot)/extract && tar -xf \(image.tarPath!) -C \(WorkloadImage.dataRoot)/extract"
        }
        return ["/bin/sh", "-c", script]
    }

    /// One trial on `driver`: create (the waiting shell, on the workload
    /// image), start, exec the command, then stop and clean. Phases are timed
    /// around the driver's calls only. A failure at any phase is recorded
    /// with its reason; the container is cleaned on every path.
    public func trial(
        _ driver: any ContainerDriver, imageName: String? = nil, run: Int, warmup: Bool = false, host: [String: String]
    ) async -> TrialRecord {
        await LifecycleTrial.measure(
            driver, experiment: kind.rawValue, dataset: image.dataset.size, image: imageName ?? image.name,
            command: command, run: run, warmup: warmup, host: host)
    }
}

/// The create / start / exec / stop / clean sequence shared by the I/O,
/// network and ping experiments, timed as the thesis's chapter 4.2.2 says.
enum LifecycleTrial {
    static func measure(
        _ driver: any ContainerDriver, experiment: String, dataset: String?, image: String, command: [String],
        request: CreateRequest? = nil, run: Int, warmup: Bool, host: [String: String],
        detach: Bool = false,
        afterExec: (@Sendable (ContainerHandle) async throws -> [String: Double])? = nil
    ) async -> TrialRecord {
        let startedAt = Date().timeIntervalSince1970
        let name = "gbx-\(experiment)-\(run)-\(UInt32.random(in: 0...UInt32.max))"
        var req = request ?? CreateRequest(name: name, image: image, argv: CreateRequest.waitingShell)
        req.name = name
        var phases: [String: Double] = [:]
        var stamps: [String: UInt64] = [:]
        func record(_ outcome: TrialRecord.Outcome, _ error: String?) -> TrialRecord {
            TrialRecord(candidate: driver.candidate.name, experiment: experiment, dataset: dataset, run: run, warmup: warmup,
                        phasesMs: phases, timestampsNs: stamps, outcome: outcome, error: error, startedAt: startedAt, host: host)
        }

        if driver.lifecycle == .oneShot {
            var one = req
            one.argv = command
            let t0 = Monotonic.now()
            do {
                let result = try await driver.run(one)
                let t1 = Monotonic.now()
                phases["run"] = Monotonic.ms(from: t0, to: t1)
                stamps["t_run"] = t1 - t0
                if let code = result.exitCode, code != 0 {
                    return record(.failed, "run: exit \(code): \(result.stderr.prefix(300))")
                }
                return record(.ok, nil)
            } catch {
                return record(.failed, "run: \(error)")
            }
        }

        let t0 = Monotonic.now()
        var handle: ContainerHandle?
        var phase = "create"
        do {
            let h = try await driver.create(req)
            handle = h
            let tc = Monotonic.now()
            phase = "start"
            try await driver.start(h)
            let ts = Monotonic.now()
            phase = "exec"
            let result = try await driver.exec(h, command, detach: detach)
            let te = Monotonic.now()
            phases["create"] = Monotonic.ms(from: t0, to: tc)
            phases["start"] = Monotonic.ms(from: tc, to: ts)
            phases["exec"] = Monotonic.ms(from: ts, to: te)
            stamps["t_create"] = tc - t0
            stamps["t_start"] = ts - t0
            stamps["t_exec"] = te - t0
            if let code = result.exitCode, code != 0 {
                throw BenchError.toolFailed(command.joined(separator: " "), status: code, output: String(result.stderr.prefix(300)))
            }
            if let afterExec {
                phase = "after exec"
                for (k, v) in try await afterExec(h) { phases[k] = v }
            }
            phase = "stop"
            let s0 = Monotonic.now()
            try await driver.stop(h)
            let s1 = Monotonic.now()
            phase = "clean"
            try await driver.clean(h)
            let s2 = Monotonic.now()
            phases["stop"] = Monotonic.ms(from: s0, to: s1)
            phases["clean"] = Monotonic.ms(from: s1, to: s2)
            return record(.ok, nil)
        } catch {
            if let handle {
                try? await driver.stop(handle)
                try? await driver.clean(handle)
            }
            return record(.failed, "\(phase): \(error)")
        }
    }
}
