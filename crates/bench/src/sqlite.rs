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

/// One audit record as Kizuna stores it (the columns of its `audit_log` table), for
/// [`measure_audit`].
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// RFC 3339 time.
    pub at: String,
    /// Who asked.
    pub actor: String,
    /// Whose data.
    pub subject: Option<String>,
    /// The entity id.
    pub resource: String,
    /// The whole record as JSON.
    pub doc: String,
    /// Its chain hash.
    pub hash: String,
}

/// Rows per second of the audit baseline.
#[derive(Debug, Clone, Copy)]
pub struct AuditRate {
    /// Rows per second.
    pub rate: f64,
    /// Rows inserted.
    pub rows: u64,
}

/// 6b's baseline: the very rows Kizuna's audit log stores (prepared beforehand: JSON
/// document and hash computed, nothing serialized or hashed while the clock runs),
/// inserted `chunk` per transaction for `seconds` (at most 20,000,000 rows) by one
/// connection, into a table shaped exactly like Kizuna's `audit_log` — the same
/// columns, primary key `(tenant, seq)` `WITHOUT ROWID` and the same two indexes
/// (by subject, by actor) — with Kizuna's pragmas. No chain head is read or moved, no
/// writer thread, no group commit: the ceiling of SQLite for these rows on this disk.
pub fn measure_audit(
    dir: &Path,
    tenant: &str,
    rows: &[AuditRow],
    seconds: Duration,
    chunk: usize,
) -> anyhow::Result<AuditRate> {
    anyhow::ensure!(!rows.is_empty(), "no rows to insert");
    let path = dir.join("audit.db");
    let mut conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.execute_batch(
        "CREATE TABLE audit_log (
             tenant TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL,
             subject TEXT, resource TEXT NOT NULL, doc TEXT NOT NULL, hash TEXT NOT NULL,
             PRIMARY KEY (tenant, seq)
         ) WITHOUT ROWID;
         CREATE INDEX audit_log_subject ON audit_log(tenant, subject, seq);
         CREATE INDEX audit_log_actor ON audit_log(tenant, actor, seq);",
    )?;
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < seconds && n < 20_000_000 {
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO audit_log(tenant, seq, at, actor, subject, resource, doc, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for _ in 0..chunk.max(1) {
                let r = &rows[(n as usize) % rows.len()];
                n += 1;
                st.execute(params![tenant, n as i64, r.at, r.actor, r.subject, r.resource, r.doc, r.hash])?;
            }
        }
        tx.commit()?;
    }
    Ok(AuditRate { rate: n as f64 / start.elapsed().as_secs_f64(), rows: n })
}
