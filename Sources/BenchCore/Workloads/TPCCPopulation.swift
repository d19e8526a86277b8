/// How many rows each TPC-C table gets for one database of the workload.
///
/// `fraction == 1` is the full one-warehouse initial population of the TPC-C
/// specification (clause 4.3.3.1): 100 000 items and stock rows, 10 districts
/// of 3 000 customers, one history row per customer, 3 000 orders per district
/// with 5 to 15 lines each, the last 900 orders of each district in
/// new_order. Smaller databases keep the same rules on proportionally fewer
/// rows, as the thesis made its smaller databases by removing rows from the
/// full one.
package struct TPCCScale: Sendable, Equatable, Codable {
    package var fraction: Double

    package init(fraction: Double) { self.fraction = fraction }

    package static let warehouses = 1
    package static let districtsPerWarehouse = 10

    package var items: Int { max(1, Int((100_000 * fraction).rounded())) }
    package var customersPerDistrict: Int { max(1, Int((3_000 * fraction).rounded())) }
    package var ordersPerDistrict: Int { customersPerDistrict }
    /// The spec puts orders 2101...3000 in new_order (undelivered): the last 30%.
    package var newOrdersPerDistrict: Int { Int((Double(ordersPerDistrict) * 0.3).rounded()) }
    /// Orders numbered up to this one are delivered (carrier set, amount 0).
    package var lastDeliveredOrder: Int { ordersPerDistrict - newOrdersPerDistrict }
}

/// The TPC-C schema (clause 1.3), in SQLite's dialect, primary keys as the
/// spec lists them.
package enum TPCCSchema {
    package static let tables = [
        "warehouse", "district", "customer", "history", "new_order", "orders", "order_line", "item", "stock",
    ]

    package static let createStatements: [String] = [
        """
        CREATE TABLE warehouse (w_id INTEGER NOT NULL PRIMARY KEY, w_name VARCHAR(10), w_street_1 VARCHAR(20),
          w_street_2 VARCHAR(20), w_city VARCHAR(20), w_state CHAR(2), w_zip CHAR(9), w_tax DECIMAL(4,4),
          w_ytd DECIMAL(12,2))
        """,
        """
        CREATE TABLE district (d_id INTEGER NOT NULL, d_w_id INTEGER NOT NULL, d_name VARCHAR(10),
          d_street_1 VARCHAR(20), d_street_2 VARCHAR(20), d_city VARCHAR(20), d_state CHAR(2), d_zip CHAR(9),
          d_tax DECIMAL(4,4), d_ytd DECIMAL(12,2), d_next_o_id INTEGER, PRIMARY KEY (d_w_id, d_id))
        """,
        """
        CREATE TABLE customer (c_id INTEGER NOT NULL, c_d_id INTEGER NOT NULL, c_w_id INTEGER NOT NULL,
          c_first VARCHAR(16), c_middle CHAR(2), c_last VARCHAR(16), c_street_1 VARCHAR(20),
          c_street_2 VARCHAR(20), c_city VARCHAR(20), c_state CHAR(2), c_zip CHAR(9), c_phone CHAR(16),
          c_since DATETIME, c_credit CHAR(2), c_credit_lim DECIMAL(12,2), c_discount DECIMAL(4,4),
          c_balance DECIMAL(12,2), c_ytd_payment DECIMAL(12,2), c_payment_cnt INTEGER, c_delivery_cnt INTEGER,
          c_data VARCHAR(500), PRIMARY KEY (c_w_id, c_d_id, c_id))
        """,
        """
        CREATE TABLE history (h_c_id INTEGER, h_c_d_id INTEGER, h_c_w_id INTEGER, h_d_id INTEGER,
          h_w_id INTEGER, h_date DATETIME, h_amount DECIMAL(6,2), h_data VARCHAR(24))
        """,
        """
        CREATE TABLE new_order (no_o_id INTEGER NOT NULL, no_d_id INTEGER NOT NULL, no_w_id INTEGER NOT NULL,
          PRIMARY KEY (no_w_id, no_d_id, no_o_id))
        """,
        """
        CREATE TABLE orders (o_id INTEGER NOT NULL, o_d_id INTEGER NOT NULL, o_w_id INTEGER NOT NULL,
          o_c_id INTEGER, o_entry_d DATETIME, o_carrier_id INTEGER, o_ol_cnt INTEGER, o_all_local INTEGER,
          PRIMARY KEY (o_w_id, o_d_id, o_id))
        """,
        """
        CREATE TABLE order_line (ol_o_id INTEGER NOT NULL, ol_d_id INTEGER NOT NULL, ol_w_id INTEGER NOT NULL,
          ol_number INTEGER NOT NULL, ol_i_id INTEGER, ol_supply_w_id INTEGER, ol_delivery_d DATETIME,
          ol_quantity INTEGER, ol_amount DECIMAL(6,2), ol_dist_info CHAR(24),
          PRIMARY KEY (ol_w_id, ol_d_id, ol_o_id, ol_number))
        """,
        """
        CREATE TABLE item (i_id INTEGER NOT NULL PRIMARY KEY, i_im_id INTEGER, i_name VARCHAR(24),
          i_price DECIMAL(5,2), i_data VARCHAR(50))
        """,
        """
        CREATE TABLE stock (s_i_id INTEGER NOT NULL, s_w_id INTEGER NOT NULL, s_quantity INTEGER,
          s_dist_01 CHAR(24), s_dist_02 CHAR(24), s_dist_03 CHAR(24), s_dist_04 CHAR(24), s_dist_05 CHAR(24),
          s_dist_06 CHAR(24), s_dist_07 CHAR(24), s_dist_08 CHAR(24), s_dist_09 CHAR(24), s_dist_10 CHAR(24),
          s_ytd INTEGER, s_order_cnt INTEGER, s_remote_cnt INTEGER, s_data VARCHAR(50),
          PRIMARY KEY (s_w_id, s_i_id))
        """,
    ]

    /// The secondary indexes of tpcc-mysql (Percona's widely used TPC-C kit,
    /// `create_table.sql` and `add_fkey_idx.sql`): the access paths the
    /// transactions need (customer by last name, orders by customer) and one
    /// index per foreign key, as a database exported from MySQL carries them.
    package static let indexStatements: [String] = [
        "CREATE INDEX idx_customer ON customer (c_w_id, c_d_id, c_last, c_first)",
        "CREATE INDEX idx_orders ON orders (o_w_id, o_d_id, o_c_id, o_id)",
        "CREATE INDEX fkey_district_1 ON district (d_w_id)",
        "CREATE INDEX fkey_customer_1 ON customer (c_w_id, c_d_id)",
        "CREATE INDEX fkey_history_1 ON history (h_c_w_id, h_c_d_id, h_c_id)",
        "CREATE INDEX fkey_history_2 ON history (h_w_id, h_d_id)",
        "CREATE INDEX fkey_new_order_1 ON new_order (no_w_id, no_d_id, no_o_id)",
        "CREATE INDEX fkey_orders_1 ON orders (o_w_id, o_d_id, o_c_id)",
        "CREATE INDEX fkey_order_line_1 ON order_line (ol_w_id, ol_d_id, ol_o_id)",
        "CREATE INDEX fkey_order_line_2 ON order_line (ol_supply_w_id, ol_i_id)",
        "CREATE INDEX fkey_stock_1 ON stock (s_w_id)",
        "CREATE INDEX fkey_stock_2 ON stock (s_i_id)",
    ]

    /// C_LAST is three syllables picked by the digits of a number 0...999 (clause 4.3.2.3).
    package static let lastNameSyllables = ["BAR", "OUGHT", "ABLE", "PRI", "PRES", "ESE", "ANTI", "CALLY", "ATION", "EING"]

    package static func lastName(_ number: Int) -> String {
        lastNameSyllables[number / 100] + lastNameSyllables[(number / 10) % 10] + lastNameSyllables[number % 10]
    }
}

extension SeededGenerator {
    /// NURand(A, x, y) of clause 2.1.6.
    package mutating func nuRand(_ a: Int, _ x: Int, _ y: Int, c: Int) -> Int {
        (((int(0, a) | int(x, y)) + c) % (y - x + 1)) + x
    }
}
