//! The raw SQLite baselines: rusqlite inserting the very same entity JSON documents
//! into a file with Kizuna's pragmas (`journal_mode=WAL`, `synchronous=FULL`), into
//! a table with a unique text key like Kizuna's `entities` table — but with no HTTP, no
//! JSON parsing, no attribute index and no type index. This is the ceiling a store
//! built on SQLite can approach, not a target to match.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusqlite::{params, Connection};

/// Rows per second of each way of inserting.
#[derive(Debug, Clone, Copy)]
pub struct SqliteRates {
    /// One transaction (one fsync'd commit) per row, for `seconds`.
    pub autocommit: f64,
    /// Rows inserted in autocommit mode.
    pub autocommit_rows: u64,
    /// Every document in a single transaction.
    pub one_txn: f64,
    /// Transactions of `chunk` rows (like Kizuna's batches).
    pub chunked: f64,
}

fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.execute_batch(
        "CREATE TABLE auto (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
         CREATE TABLE one_txn (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
         CREATE TABLE chunked (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);",
    )?;
    Ok(conn)
}

/// Measures the three insert modes with `docs` (id, JSON) in a new file in `dir`.
pub fn measure(dir: &Path, docs: &[(String, String)], seconds: Duration, chunk: usize) -> anyhow::Result<SqliteRates> {
    anyhow::ensure!(!docs.is_empty(), "no documents to insert");
    let mut conn = open(&dir.join("baseline.db"))?;

    // Autocommit: each INSERT is its own transaction and its own durable commit.
    let start = Instant::now();
    let mut n: u64 = 0;
    {
        let mut st = conn.prepare("INSERT INTO auto (id, doc) VALUES (?1, ?2)")?;
        while start.elapsed() < seconds {
            for _ in 0..16 {
                let (id, doc) = &docs[(n as usize) % docs.len()];
                st.execute(params![format!("{id}/{n}"), doc])?;
                n += 1;
            }
        }
    }
    let autocommit = n as f64 / start.elapsed().as_secs_f64();

    // One transaction for every document, commit included in the time.
    let start = Instant::now();
    {
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare("INSERT INTO one_txn (id, doc) VALUES (?1, ?2)")?;
            for (id, doc) in docs {
                st.execute(params![id, doc])?;
            }
        }
        tx.commit()?;
    }
    let one_txn = docs.len() as f64 / start.elapsed().as_secs_f64();

    // A transaction per chunk.
    let start = Instant::now();
    for part in docs.chunks(chunk.max(1)) {
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached("INSERT INTO chunked (id, doc) VALUES (?1, ?2)")?;
            for (id, doc) in part {
                st.execute(params![id, doc])?;
            }
        }
        tx.commit()?;
    }
    let chunked = docs.len() as f64 / start.elapsed().as_secs_f64();

    Ok(SqliteRates { autocommit, autocommit_rows: n, one_txn, chunked })
}

/// Rows per second of the history baseline.
#[derive(Debug, Clone, Copy)]
pub struct HistoryRate {
    /// Rows per second.
    pub rate: f64,
    /// Rows inserted.
    pub rows: u64,
}

/// 1c: attribute-instance rows (entity, attribute, observed time, JSON document) in
/// transactions of `chunk` rows, for `seconds` (at most 5,000,000 rows), into a table
/// shaped like Kizuna's history with the one index a read by entity, attribute and
/// time needs — no HTTP, no JSON parsing, no second index.
pub fn measure_history(dir: &Path, docs: &[String], seconds: Duration, chunk: usize) -> anyhow::Result<HistoryRate> {
    anyhow::ensure!(!docs.is_empty(), "no documents to insert");
    let path = dir.join("history.db");
    let mut conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.execute_batch(
        "CREATE TABLE history (seq INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, attr TEXT NOT NULL,
                               observed_ms INTEGER, doc TEXT NOT NULL);
         CREATE INDEX history_observed ON history(entity_id, attr, observed_ms);",
    )?;
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < seconds && n < 5_000_000 {
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO history (entity_id, attr, observed_ms, doc) VALUES (?1, 'https://uri.etsi.org/ngsi-ld/default-context/power', ?2, ?3)",
            )?;
            for _ in 0..chunk.max(1) {
                let doc = &docs[(n as usize) % docs.len()];
                st.execute(params!["urn:ngsi-ld:Meter:baseline-0", 1_735_689_600_000i64 + n as i64 * 1000, doc])?;
                n += 1;
            }
        }
        tx.commit()?;
    }
    Ok(HistoryRate { rate: n as f64 / start.elapsed().as_secs_f64(), rows: n })
}
