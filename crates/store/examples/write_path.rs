//! Store-level write throughput, without HTTP: batches of 1,000 sensor entities
//! inserted through `Store::write`, to see what the storage layer alone costs.
//! `cargo run --release -p kizuna-store --example write_path`

use std::time::Instant;

use kizuna_ngsild::entity::{now_timestamp, parse_entity};
use kizuna_ngsild::Context;
use kizuna_store::{Store, StoreError};
use serde_json::json;

fn main() -> Result<(), StoreError> {
    let dir = std::env::temp_dir().join(format!("kizuna-write-path-{}", std::process::id()));
    let store = Store::open_sqlite(&dir)?;
    let ctx = Context::core();
    let now = now_timestamp();
    let batches = 20;
    let entities: Vec<Vec<kizuna_ngsild::Entity>> = (0..batches)
        .map(|b| {
            (0..1000)
                .map(|i| {
                    let mut e = parse_entity(
                        &json!({"id": format!("urn:ngsi-ld:Sensor:{b}-{i}"), "type": "Sensor",
                            "temperature": {"type": "Property", "value": 20.5, "unitCode": "CEL", "observedAt": "2026-11-23T06:00:00Z"},
                            "humidity": {"type": "Property", "value": 55},
                            "district": {"type": "Property", "value": "Kita"},
                            "status": {"type": "Property", "value": "ok"},
                            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.06, 36.39]}}}),
                        &ctx,
                    )
                    .expect("valid");
                    e.stamp_new(&now);
                    e
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    for batch in entities {
        store.write("", move |tx| {
            for e in &batch {
                tx.insert(e)?;
            }
            Ok::<(), StoreError>(())
        })?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{} entities in {:.2} s: {:.0} entities/s", batches * 1000, secs, (batches * 1000) as f64 / secs);
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
