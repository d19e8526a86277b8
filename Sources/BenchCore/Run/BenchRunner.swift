import Foundation

/// The measurement loop: warm-up rounds, then counted rounds; in each round every
/// (candidate, experiment) pair runs once, the order rotated round by round, so drift
/// hits every candidate alike. Records are written as they are taken; summaries are
/// computed afterwards from the records only.
public enum BenchRunner {
    public static func run(
        _ o: BenchOptions, interrupt: InterruptFlag = InterruptFlag(),
        progress: @escaping @Sendable (RunnerEvent) -> Void = { _ in }
    ) async throws(BenchError) -> [TrialRecord] {
        let began = Monotonic.now()
        func elapsed() -> Double { Double(Monotonic.now() - began) / 1e9 }
        let writer = try RecordWriter(path: o.rawPath)
        var records: [TrialRecord] = []
        let before = ProvisionState.load()
        var facts = await HostFacts.collect(state: before)
        let provisioner = Provisioner(progress: { progress(.setup($0)) })
        var host = facts.recordFields

        func fail(_ c: Candidate, _ e: (any Experiment)?, _ reason: String) throws(BenchError) {
            progress(.skipped(candidate: c.name, reason: reason))
            let r = TrialRecord(candidate: c.name, experiment: e?.name ?? o.experiments.first?.name ?? "hello", dataset: e?.dataset,
                                run: 0, phasesMs: [:], outcome: .failed, error: reason, startedAt: Date().timeIntervalSince1970, host: host)
            try writer.append(r)
            records.append(r)
        }

        var drivers: [(Candidate, any ContainerDriver)] = []
        for c in o.candidates {
            if interrupt.isSet { break }
            var status = Probe.status(c, facts: facts)
            if (status.state == .settable || (status.state == .ready && provisioner.isStale(c))) && o.setupMissing {
                let result = await provisioner.setup([c])
                if let e = result.first?.1 { try fail(c, nil, "setup: \(e)"); continue }
                facts = await HostFacts.collect(state: ProvisionState.load())
                status = Probe.status(c, facts: facts)
            }
            guard status.state == .ready else {
                try fail(c, nil, status.reason ?? "not set up (run `gradebox bench setup \(c.name)`)")
                continue
            }
            do throws(BenchError) {
                try await provisioner.ensureImage(c)
                drivers.append((c, try Drivers.make(c)))
            } catch {
                try fail(c, nil, error.description)
            }
        }
        host = facts.recordFields
        for (c, d) in drivers {
            if let e = d as? EngineDriver, let v = await e.version() { host["version.\(c.manager.rawValue)-daemon"] = v }
        }

        // Every pair, light experiments first: with a budget, what does not fit is
        // the heaviest datasets, and every candidate gets its hello and run.
        let ordered = o.experiments.enumerated().sorted { a, b in
            (a.element.workloadBytes, a.offset) < (b.element.workloadBytes, b.offset)
        }.map(\.element)
        var pairs: [(Candidate, any ContainerDriver, any Experiment)] = []
        for e in ordered {
            for (c, d) in drivers { pairs.append((c, d, e)) }
        }
        // The comparison pairs first: a budget that cannot hold everything then
        // leaves out the other pairs, never the ones the conclusions rest on.
        func isPriority(_ p: (Candidate, any ContainerDriver, any Experiment)) -> Bool {
            o.priority.contains(BenchOptions.pairKey(p.0.name, p.2.name, p.2.dataset))
        }
        pairs = pairs.filter(isPriority) + pairs.filter { !isPriority($0) }
        let priority = pairs.map(isPriority)
        let priorityRuns = min(o.runs, max(o.priorityRuns, 1))
        // The counted runs each pair needs before a budget may stop it: one, or a comparison pair's share.
        let wanted = priority.map { $0 ? priorityRuns : 1 }
        for (_, d) in drivers {
            if let g = d as? GradeboxDriver { try? await g.warmPool(4) }
        }

        let rounds = o.warmup + o.runs
        // Warm-ups per pair: a tight budget keeps only the first (the timing probe).
        var warmups = o.warmup
        // Seconds the pairs started so far will need for one counted run each:
        // a budgeted first round stops taking new pairs before it eats that.
        var reserved = 0.0
        // Trials planned per pair; a failed preparation or a budget lowers them.
        var planned = [Int](repeating: rounds, count: pairs.count)
        var firstTrialSeconds = [Double](repeating: 0, count: pairs.count)
        var total = rounds * pairs.count
        var done = 0
        var serial = 0
        // This run's containers: named so, and found by it at the end (Podman's conmons).
        let namePrefix = "gbx-\(getpid())-"
        var skipped = 0
        var preparedCount = 0
        // A pair that will not run: recorded with the reason, its trials taken off the plan.
        func drop(_ i: Int, _ reason: String) throws(BenchError) {
            planned[i] = 0
            total -= rounds
            try fail(pairs[i].0, pairs[i].2, reason)
        }
        outer: for round in 0..<rounds {
            let shift = pairs.isEmpty ? 0 : round % pairs.count
            for k in 0..<pairs.count {
                if interrupt.isSet { progress(.interrupted); break outer }
                let i = (k + shift) % pairs.count
                guard round < planned[i] else { continue }
                let (c, d, e) = pairs[i]
                let warm = round < warmups
                if round == 0 {
                    // Prepared on its first turn (images built and imported), not all up
                    // front: a budget then ends preparation and trials alike.
                    if let budget = o.budgetSeconds, elapsed() + reserved > budget {
                        try drop(i, "not run: the time budget of \(Int(budget / 60)) min had no room left for it (run it alone with --candidates and --experiments)")
                        continue
                    }
                    if let short = DiskRoom.shortage(for: e.workloadBytes, on: DiskRoom.targets(c)) {
                        try drop(i, short)
                        continue
                    }
                    let t0 = Monotonic.now()
                    do throws(BenchError) {
                        try await e.prepare(d)
                    } catch {
                        try drop(i, "prepare \(e.name): \(error)")
                        continue
                    }
                    preparedCount += 1
                    progress(.prepared(candidate: c.name, experiment: experimentLabel(e.name, e.dataset),
                                       seconds: Double(Monotonic.now() - t0) / 1e9, done: preparedCount, total: pairs.count))
                }
                // Past the budget, a pair with its counted run (a comparison pair: with
                // its share of them) already gets no more.
                if let budget = o.budgetSeconds, round - warmups >= wanted[i], elapsed() > budget {
                    skipped += planned[i] - round
                    planned[i] = round
                    continue
                }
                if let g = d as? GradeboxDriver { g.settleWarmBoxes() }
                serial += 1
                let name = namePrefix + String(serial)
                let started = Date().timeIntervalSince1970
                let t0 = Monotonic.now()
                var record: TrialRecord
                do throws(BenchError) {
                    let t = try await Spawn.timed { () async throws(BenchError) in try await e.trial(d, containerName: name) }
                    record = TrialRecord(candidate: c.name, experiment: e.name, dataset: e.dataset, run: warm ? round : round - warmups,
                                         warmup: warm, phasesMs: t.phasesMs, timestampsNs: t.timestampsNs, outcome: .ok,
                                         startedAt: started, host: host)
                } catch {
                    record = TrialRecord(candidate: c.name, experiment: e.name, dataset: e.dataset, run: warm ? round : round - warmups,
                                         warmup: warm, phasesMs: [:], outcome: .failed, error: error.description,
                                         startedAt: started, host: host)
                }
                if round == 0 {
                    firstTrialSeconds[i] = Double(Monotonic.now() - t0) / 1e9
                    // Time for its wanted counted runs; without warm-ups this trial was the first of them.
                    reserved += firstTrialSeconds[i] * Double(o.warmup > 0 ? wanted[i] : wanted[i] - 1)
                }
                try writer.append(record)
                records.append(record)
                done += 1
                progress(.trial(done: done, total: total, record: record))
            }
            if round == 0, let budget = o.budgetSeconds {
                // The first round was a warm-up (or, without warm-ups, the first counted run).
                let live = pairs.indices.filter { planned[$0] > 0 }
                let probe = live.map { firstTrialSeconds[$0] }
                let remaining = budget - elapsed()
                // The remaining warm-ups only when every pair's first counted run fits beside them.
                if warmups > 1 && probe.reduce(0, +) * Double(warmups) > remaining { warmups = 1 }
                let counted = RunBudget.allocate(
                    trialSeconds: probe, fixedTrials: max(0, warmups - 1), remainingSeconds: remaining,
                    maximum: warmups > 0 ? o.runs : o.runs - 1, minimum: warmups > 0 ? 1 : 0,
                    priority: live.map { priority[$0] }, priorityMinimum: warmups > 0 ? priorityRuns : priorityRuns - 1)
                for (j, i) in live.enumerated() { planned[i] = warmups + counted[j] + (warmups > 0 ? 0 : 1) }
                total = done + live.reduce(0) { $0 + planned[$1] - 1 }
                let perPair = live.map { planned[$0] - warmups }
                let comparisons = live.filter { priority[$0] }.map { planned[$0] - warmups }
                progress(.budget(seconds: budget, fewest: perPair.min() ?? 0, most: perPair.max() ?? 0,
                                 rationed: perPair.filter { $0 < o.runs }.count,
                                 comparisons: comparisons.count, comparisonsFewest: comparisons.min() ?? 0))
            }
        }
        if skipped > 0 { progress(.budgetSpent(skipped: skipped)) }
        for (i, (_, d, e)) in pairs.enumerated() where planned[i] > 0 { await e.finish(d) }
        // Podman keeps each exec's conmon for minutes after the exec, its
        // container removed or not: what this run started ends with it.
        let conmons = Leftovers.conmons(ProcessTable.read(), namedWith: namePrefix)
        if !conmons.isEmpty {
            let log = await Leftovers.stop(conmons, grace: 2)
            progress(.tornDown(["stopped \(log.count) conmon processes Podman kept for this run's removed containers"]))
        }

        if interrupt.isSet {
            // Tear down only what this run brought up; what was ready before stays.
            let started = Set(ProvisionState.load().units.keys).subtracting(before.units.keys)
            if !started.isEmpty {
                let p = Provisioner(progress: { progress(.setup($0)) })
                let log = await p.teardown(only: started)
                progress(.tornDown(log))
            }
        }
        return records
    }
}
