//! Versioned schema migrations, tracked in `PRAGMA user_version`. Each migration runs
//! once, in its own transaction, in order; a database from a newer build is refused.

use rusqlite::Connection;

use crate::StoreError;

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: entities, their types and the attribute index.
    "CREATE TABLE tenants (name TEXT PRIMARY KEY) WITHOUT ROWID;
     CREATE TABLE entities (
         rowid INTEGER PRIMARY KEY,
         tenant TEXT NOT NULL,
         id TEXT NOT NULL,
         doc TEXT NOT NULL,
         UNIQUE (tenant, id)
     );
     -- type -> entities in id order (the primary key serves type queries with paging)
     CREATE TABLE entity_types (
         tenant TEXT NOT NULL,
         type TEXT NOT NULL,
         id TEXT NOT NULL,
         entity INTEGER NOT NULL,
         PRIMARY KEY (tenant, type, id)
     ) WITHOUT ROWID;
     CREATE INDEX entity_types_entity ON entity_types(entity);
     -- one row per scalar value of each attribute instance (or one row with NULLs)
     CREATE TABLE attr_index (
         entity INTEGER NOT NULL,
         tenant TEXT NOT NULL,
         attr TEXT NOT NULL,
         kind INTEGER NOT NULL,
         num REAL,
         txt TEXT
     );
     CREATE INDEX attr_index_entity ON attr_index(entity, attr);
     CREATE INDEX attr_index_num ON attr_index(tenant, attr, num) WHERE num IS NOT NULL;
     CREATE INDEX attr_index_txt ON attr_index(tenant, attr, txt) WHERE txt IS NOT NULL;",
    // 2: the spatial index and the temporal history.
    "-- bounding boxes of GeoProperty instances; geo_index says whose
     CREATE VIRTUAL TABLE geo_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat);
     CREATE TABLE geo_index (
         id INTEGER PRIMARY KEY,
         entity INTEGER NOT NULL,
         tenant TEXT NOT NULL,
         attr TEXT NOT NULL
     );
     CREATE INDEX geo_index_entity ON geo_index(entity);
     CREATE INDEX geo_index_attr ON geo_index(tenant, attr);
     -- entities known to the temporal API (they outlive deletion of the current state)
     CREATE TABLE temporal_entities (
         tenant TEXT NOT NULL,
         id TEXT NOT NULL,
         types TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         modified_ms INTEGER NOT NULL,
         PRIMARY KEY (tenant, id)
     ) WITHOUT ROWID;
     CREATE TABLE temporal_types (
         tenant TEXT NOT NULL,
         type TEXT NOT NULL,
         id TEXT NOT NULL,
         PRIMARY KEY (tenant, type, id)
     ) WITHOUT ROWID;
     -- one row per recorded attribute instance; seq is the instance id and the order
     CREATE TABLE attr_history (
         seq INTEGER PRIMARY KEY,
         tenant TEXT NOT NULL,
         entity_id TEXT NOT NULL,
         attr TEXT NOT NULL,
         dataset_id TEXT,
         observed_ms INTEGER,
         created_ms INTEGER NOT NULL,
         modified_ms INTEGER NOT NULL,
         doc TEXT NOT NULL
     );
     CREATE INDEX attr_history_observed ON attr_history(tenant, entity_id, attr, observed_ms);
     CREATE INDEX attr_history_created ON attr_history(tenant, entity_id, attr, created_ms);
     -- retention per tenant and entity type, in seconds
     CREATE TABLE retention (
         tenant TEXT NOT NULL,
         type TEXT NOT NULL,
         seconds INTEGER NOT NULL,
         PRIMARY KEY (tenant, type)
     ) WITHOUT ROWID;",
    // 3: subscriptions and the durable notification outbox.
    "CREATE TABLE subscriptions (
         tenant TEXT NOT NULL,
         id TEXT NOT NULL,
         doc TEXT NOT NULL,
         times_sent INTEGER NOT NULL DEFAULT 0,
         times_failed INTEGER NOT NULL DEFAULT 0,
         consecutive_failures INTEGER NOT NULL DEFAULT 0,
         last_notification TEXT,
         last_success TEXT,
         last_failure TEXT,
         last_failure_reason TEXT,
         PRIMARY KEY (tenant, id)
     ) WITHOUT ROWID;
     -- notifications decided in the transaction of the write that caused them
     CREATE TABLE outbox (
         seq INTEGER PRIMARY KEY,
         tenant TEXT NOT NULL,
         sub_id TEXT NOT NULL,
         trigger TEXT NOT NULL,
         entity TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         next_attempt_ms INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX outbox_sub ON outbox(tenant, sub_id, seq);",
    // 4: covering value indexes, so a pushed-down condition never visits the table.
    "DROP INDEX attr_index_num;
     DROP INDEX attr_index_txt;
     CREATE INDEX attr_index_num ON attr_index(tenant, attr, num, entity) WHERE num IS NOT NULL;
     CREATE INDEX attr_index_txt ON attr_index(tenant, attr, txt, entity) WHERE txt IS NOT NULL;",
    // 5: history is read per entity and attribute, where the first index's prefix serves
    // every time property; a second index on recording time only slowed every write.
    "DROP INDEX attr_history_created;",
    // 6: the consent engine's records and the hash-chained access log. Each record is
    // stored as its serde JSON (`doc`) beside the columns lookups need.
    "-- the party registry of each tenant (hospitals, insurers, app vendors, the city)
     CREATE TABLE parties (
         tenant TEXT NOT NULL,
         id TEXT NOT NULL,
         doc TEXT NOT NULL,
         PRIMARY KEY (tenant, id)
     ) WITHOUT ROWID;
     -- machine credentials, found by their public id; the doc holds the secret's SHA-256 only
     CREATE TABLE api_keys (
         id TEXT PRIMARY KEY,
         tenant TEXT NOT NULL,
         party TEXT NOT NULL,
         doc TEXT NOT NULL
     );
     CREATE INDEX api_keys_tenant ON api_keys(tenant, id);
     -- which entity types are personal (category, subject relationship) and which public
     CREATE TABLE classifications (
         tenant TEXT PRIMARY KEY,
         doc TEXT NOT NULL
     );
     -- consent records, read per data subject (policy, /me) and per recipient (admin view)
     CREATE TABLE consents (
         tenant TEXT NOT NULL,
         id TEXT NOT NULL,
         subject TEXT NOT NULL,
         recipient TEXT NOT NULL,
         doc TEXT NOT NULL,
         PRIMARY KEY (tenant, id)
     );
     CREATE INDEX consents_subject ON consents(tenant, subject);
     CREATE INDEX consents_recipient ON consents(tenant, recipient);
     -- information-bank provision conditions set by data subjects
     CREATE TABLE delegations (
         tenant TEXT NOT NULL,
         id TEXT NOT NULL,
         subject TEXT NOT NULL,
         doc TEXT NOT NULL,
         PRIMARY KEY (tenant, id)
     );
     CREATE INDEX delegations_subject ON delegations(tenant, subject);
     -- usage stops: at most one per subject and recipient; lifting one deletes it
     CREATE TABLE usage_stops (
         tenant TEXT NOT NULL,
         subject TEXT NOT NULL,
         recipient TEXT NOT NULL,
         doc TEXT NOT NULL,
         PRIMARY KEY (tenant, subject, recipient)
     );
     -- what the information bank provided to whom (the citizen's provision history)
     CREATE TABLE provisions (
         seq INTEGER PRIMARY KEY,
         tenant TEXT NOT NULL,
         subject TEXT NOT NULL,
         recipient TEXT NOT NULL,
         doc TEXT NOT NULL
     );
     CREATE INDEX provisions_subject ON provisions(tenant, subject, seq);
     -- the access log: one hash chain per tenant; doc is the whole AuditRecord, the
     -- other columns copy its fields for lookups (verification reads doc)
     CREATE TABLE audit_log (
         tenant TEXT NOT NULL,
         seq INTEGER NOT NULL,
         at TEXT NOT NULL,
         actor TEXT NOT NULL,
         subject TEXT,
         resource TEXT NOT NULL,
         doc TEXT NOT NULL,
         hash TEXT NOT NULL,
         PRIMARY KEY (tenant, seq)
     ) WITHOUT ROWID;
     CREATE INDEX audit_log_subject ON audit_log(tenant, subject, seq);
     CREATE INDEX audit_log_actor ON audit_log(tenant, actor, seq);
     -- each chain's head, kept apart from the log and updated in the transaction of each
     -- append, so that removing the last records of a chain is detected
     CREATE TABLE audit_heads (
         tenant TEXT PRIMARY KEY,
         seq INTEGER NOT NULL,
         hash TEXT NOT NULL
     );",
    // 7: the delivery log: one row per entity of an outbox item per delivery attempt
    // (`attempt` counts from 1), written in the transaction that records the outcome.
    "CREATE TABLE delivery_log (
         id INTEGER PRIMARY KEY,
         tenant TEXT NOT NULL,
         sub_id TEXT NOT NULL,
         entity_id TEXT NOT NULL,
         seq INTEGER NOT NULL,
         outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed', 'discarded')),
         reason TEXT,
         at TEXT NOT NULL,
         attempt INTEGER NOT NULL
     );
     CREATE INDEX delivery_log_entity ON delivery_log(tenant, entity_id, sub_id, id);",
    // 8: FHIR resources. `fhir_resources` says which version of each resource is current
    // (a deleted one stays, `deleted = 1`, so version numbers continue); every version,
    // deletes included, with its document (stored once), is in `fhir_versions`;
    // `fhir_index` has one row per search parameter value of the current version;
    // `fhir_state` keeps small per-tenant
    // documents of the FHIR layer (the threshold table, the last assessment per person
    // and item). `guardianships` joins the tenant's policy records.
    "CREATE TABLE fhir_resources (
         rid INTEGER PRIMARY KEY,
         tenant TEXT NOT NULL,
         rtype TEXT NOT NULL,
         id TEXT NOT NULL,
         version INTEGER NOT NULL,
         last_updated TEXT NOT NULL,
         deleted INTEGER NOT NULL,
         subject TEXT,
         source TEXT,
         UNIQUE (tenant, rtype, id)
     );
     CREATE INDEX fhir_resources_subject ON fhir_resources(tenant, subject);
     CREATE TABLE fhir_versions (
         rid INTEGER NOT NULL,
         version INTEGER NOT NULL,
         last_updated TEXT NOT NULL,
         deleted INTEGER NOT NULL,
         subject TEXT,
         source TEXT,
         doc TEXT,
         PRIMARY KEY (rid, version)
     ) WITHOUT ROWID;
     CREATE TABLE fhir_index (
         tenant TEXT NOT NULL,
         rtype TEXT NOT NULL,
         param TEXT NOT NULL,
         rid INTEGER NOT NULL,
         system TEXT,
         txt TEXT,
         lo REAL,
         hi REAL
     );
     CREATE INDEX fhir_index_txt ON fhir_index(tenant, rtype, param, txt, rid);
     CREATE INDEX fhir_index_rid ON fhir_index(rid, param);
     -- guardianships (kizuna_consent::Guardianship), part of the tenant's policy
     CREATE TABLE guardianships (
         tenant TEXT NOT NULL,
         id TEXT NOT NULL,
         guardian TEXT NOT NULL,
         ward TEXT NOT NULL,
         doc TEXT NOT NULL,
         PRIMARY KEY (tenant, id)
     ) WITHOUT ROWID;
     CREATE INDEX guardianships_guardian ON guardianships(tenant, guardian);
     CREATE INDEX guardianships_ward ON guardianships(tenant, ward);
     CREATE TABLE fhir_state (
         tenant TEXT NOT NULL,
         key TEXT NOT NULL,
         doc TEXT NOT NULL,
         PRIMARY KEY (tenant, key)
     ) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > VERSION {
        return Err(StoreError::SchemaTooNew { found: current, supported: VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
}
