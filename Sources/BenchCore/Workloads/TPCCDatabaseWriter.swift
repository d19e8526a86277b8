import Foundation
import GRDB
import GRDBSQLite

/// Writes one TPC-C database with GRDB: every table streamed row by row
/// through one prepared statement inside one transaction, so memory stays
/// flat whatever the size (no table is ever held in memory).
package struct TPCCDatabaseWriter: Sendable {
    package var scale: TPCCScale
    package var seed: UInt64
    /// "Current date and time" of the population rules, fixed so that the
    /// file is the same on every run.
    package static let populationDate = "2020-06-01 12:00:00"

    package init(scale: TPCCScale, seed: UInt64) {
        self.scale = scale
        self.seed = seed
    }

    /// Writes the database to `path` (replacing it): first into a sibling
    /// temporary file, renamed into place at the end, so that an interrupted
    /// run never leaves a half-written file under the final name.
    package func write(to path: String, progress: (@Sendable (Double) -> Void)? = nil) throws {
        let tmp = path + ".partial"
        try? FileManager.default.removeItem(atPath: tmp)
        do {
            var config = Configuration()
            config.journalMode = .default
            // Population is one-shot: a crash means regenerate, so no journal and no fsync.
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 4096")
            }
            let queue = try DatabaseQueue(path: tmp, configuration: config)
            try queue.writeWithoutTransaction { db in
                // Indexes exist before the rows, as when a database is loaded
                // through its application: pages of the indexes whose keys
                // arrive out of order split and stay partly empty.
                for sql in TPCCSchema.createStatements + TPCCSchema.indexStatements { try db.execute(sql: sql) }
                try db.inTransaction {
                    try populate(db, progress: progress)
                    return .commit
                }
            }
            try queue.close()
        } catch let error as DatabaseError {
            try? FileManager.default.removeItem(atPath: tmp)
            throw WorkloadError.sqlite(path: path, message: "\(error)")
        }
        do {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: tmp, toPath: path)
        } catch {
            throw WorkloadError.io(operation: "rename(\(tmp) -> \(path))", underlying: "\(error)")
        }
    }

    // Insertion follows primary-key order so SQLite appends to the right edge
    // of every B-tree and pages come out full, as in an exported database.
    private func populate(_ db: Database, progress: (@Sendable (Double) -> Void)?) throws {
        let w = TPCCScale.warehouses
        let districts = TPCCScale.districtsPerWarehouse
        let items = scale.items
        let customers = scale.customersPerDistrict
        let orders = scale.ordersPerDistrict
        let delivered = scale.lastDeliveredOrder
        let date = Self.populationDate
        // Rough share of the file each table takes at full size, for progress only.
        var done = 0.0
        func advance(_ share: Double) { done += share; progress?(min(done, 1)) }

        var rng = SeededGenerator(seed: seed, stream: "tpcc/item")
        var row = try RowInserter(db, table: "item", columns: 5)
        for id in 1...items {
            row.int(id)
            row.int(rng.int(1, 10_000))
            row.aString(&rng, 14, 24)
            row.double(Double(rng.int(100, 10_000)) / 100)
            row.data(&rng)
            try row.insert()
        }
        advance(0.07)

        rng = SeededGenerator(seed: seed, stream: "tpcc/warehouse")
        row = try RowInserter(db, table: "warehouse", columns: 9)
        row.int(w)
        row.aString(&rng, 6, 10)
        row.address(&rng)
        row.double(Double(rng.int(0, 2000)) / 10_000)
        row.double(300_000)
        try row.insert()

        rng = SeededGenerator(seed: seed, stream: "tpcc/stock")
        row = try RowInserter(db, table: "stock", columns: 17)
        for id in 1...items {
            row.int(id)
            row.int(w)
            row.int(rng.int(10, 100))
            for _ in 1...10 { row.aString(&rng, 24, 24) }
            row.int(0)
            row.int(0)
            row.int(0)
            row.data(&rng)
            try row.insert()
        }
        advance(0.33)

        rng = SeededGenerator(seed: seed, stream: "tpcc/district")
        row = try RowInserter(db, table: "district", columns: 11)
        for d in 1...districts {
            row.int(d)
            row.int(w)
            row.aString(&rng, 6, 10)
            row.address(&rng)
            row.double(Double(rng.int(0, 2000)) / 10_000)
            row.double(30_000)
            row.int(orders + 1)
            try row.insert()
        }

        rng = SeededGenerator(seed: seed, stream: "tpcc/customer")
        let cLoad = rng.int(0, 255)
        row = try RowInserter(db, table: "customer", columns: 21)
        var history = try RowInserter(db, table: "history", columns: 8)
        for d in 1...districts {
            for c in 1...customers {
                row.int(c)
                row.int(d)
                row.int(w)
                row.aString(&rng, 8, 16)
                row.text("OE")
                row.text(TPCCSchema.lastName(c <= 1000 ? c - 1 : rng.nuRand(255, 0, 999, c: cLoad)))
                row.address(&rng)
                row.nString(&rng, 16)
                row.text(date)
                row.text(rng.percent(10) ? "BC" : "GC")
                row.double(50_000)
                row.double(Double(rng.int(0, 5000)) / 10_000)
                row.double(-10)
                row.double(10)
                row.int(1)
                row.int(0)
                row.aString(&rng, 300, 500)
                try row.insert()

                history.int(c)
                history.int(d)
                history.int(w)
                history.int(d)
                history.int(w)
                history.text(date)
                history.double(10)
                history.aString(&rng, 12, 24)
                try history.insert()
            }
            advance(0.025)
        }

        rng = SeededGenerator(seed: seed, stream: "tpcc/orders")
        row = try RowInserter(db, table: "orders", columns: 8)
        var line = try RowInserter(db, table: "order_line", columns: 10)
        var newOrder = try RowInserter(db, table: "new_order", columns: 3)
        for d in 1...districts {
            // O_C_ID is a random permutation of the customer numbers (Fisher-Yates).
            var permutation = Array(1...customers)
            for i in stride(from: customers - 1, to: 0, by: -1) { permutation.swapAt(i, rng.int(0, i)) }
            for o in 1...orders {
                let lines = rng.int(5, 15)
                let isDelivered = o <= delivered
                row.int(o)
                row.int(d)
                row.int(w)
                row.int(permutation[o - 1])
                row.text(date)
                if isDelivered { row.int(rng.int(1, 10)) } else { row.null() }
                row.int(lines)
                row.int(1)
                try row.insert()
                for n in 1...lines {
                    line.int(o)
                    line.int(d)
                    line.int(w)
                    line.int(n)
                    line.int(rng.int(1, items))
                    line.int(w)
                    if isDelivered { line.text(date) } else { line.null() }
                    line.int(5)
                    line.double(isDelivered ? 0 : Double(rng.int(1, 999_999)) / 100)
                    line.aString(&rng, 24, 24)
                    try line.insert()
                }
                if !isDelivered {
                    newOrder.int(o)
                    newOrder.int(d)
                    newOrder.int(w)
                    try newOrder.insert()
                }
            }
            advance(0.025)
        }
        progress?(1)
    }
}

/// One prepared INSERT, bound column by column through SQLite's C API on
/// GRDB's statement: GRDB's `StatementArguments` would box every value, and
/// the full database has 1.6 million rows.
private struct RowInserter {
    let statement: Statement
    let handle: SQLiteStatement
    let table: String
    var column: Int32 = 1
    /// Scratch space for generated strings; SQLite copies each bound value.
    var scratch = [UInt8](repeating: 0, count: 512)

    init(_ db: Database, table: String, columns: Int) throws {
        let marks = Array(repeating: "?", count: columns).joined(separator: ",")
        statement = try db.makeStatement(sql: "INSERT INTO \(table) VALUES (\(marks))")
        handle = statement.sqliteStatement
        self.table = table
    }

    // SQLITE_TRANSIENT: SQLite copies the bytes before bind returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    mutating func int(_ v: Int) { sqlite3_bind_int64(handle, column, sqlite3_int64(v)); column += 1 }
    mutating func double(_ v: Double) { sqlite3_bind_double(handle, column, v); column += 1 }
    mutating func null() { sqlite3_bind_null(handle, column); column += 1 }
    mutating func text(_ s: String) {
        var s = s
        s.withUTF8 { b in _ = sqlite3_bind_text(handle, column, b.baseAddress, Int32(b.count), Self.transient) }
        column += 1
    }

    /// TPC-C a-string: random alphanumeric, length drawn in lo...hi.
    mutating func aString(_ rng: inout SeededGenerator, _ lo: Int, _ hi: Int) {
        let n = lo == hi ? lo : rng.int(lo, hi)
        bindScratch(n) { rng.fillAlphanumeric($0) }
    }

    /// TPC-C n-string: random digits.
    mutating func nString(_ rng: inout SeededGenerator, _ n: Int) {
        bindScratch(n) { rng.fillDigits($0) }
    }

    /// I_DATA / S_DATA: a-string[26..50], 10% holding "ORIGINAL" at a random place.
    mutating func data(_ rng: inout SeededGenerator) {
        let n = rng.int(26, 50)
        let original = rng.percent(10)
        let at = original ? rng.int(0, n - 8) : 0
        bindScratch(n) { buffer in
            rng.fillAlphanumeric(buffer)
            if original { for (i, b) in "ORIGINAL".utf8.enumerated() { buffer[at + i] = b } }
        }
    }

    /// Street 1, street 2, city, state, zip (clause 4.3.2.7 and the zip of 4.3.2.7).
    mutating func address(_ rng: inout SeededGenerator) {
        aString(&rng, 10, 20)
        aString(&rng, 10, 20)
        aString(&rng, 10, 20)
        aString(&rng, 2, 2)
        bindScratch(9) { buffer in
            rng.fillDigits(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<4]))
            for i in 4..<9 { buffer[i] = UInt8(ascii: "1") }
        }
    }

    private mutating func bindScratch(_ n: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) {
        let column = self.column
        let handle = self.handle
        scratch.withUnsafeMutableBytes { raw in
            let buffer = UnsafeMutableRawBufferPointer(rebasing: raw[0..<n])
            fill(buffer)
            _ = sqlite3_bind_text(handle, column, buffer.baseAddress, Int32(n), Self.transient)
        }
        self.column += 1
    }

    mutating func insert() throws {
        let rc = sqlite3_step(handle)
        sqlite3_reset(handle)
        column = 1
        guard rc == SQLITE_DONE else {
            let message = String(cString: sqlite3_errstr(rc))
            throw WorkloadError.sqlite(path: table, message: "sqlite3_step(INSERT INTO \(table)): \(message)")
        }
    }
}
