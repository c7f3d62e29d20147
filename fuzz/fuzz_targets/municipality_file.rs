//! Fuzzes the reader of a site's own municipality file (`kizuna serve --municipalities`, CSV
//! or GeoJSON, and the point-in-boundary test it feeds): any input is accepted or refused with
//! problems, never a panic, and every accepted boundary answers `contains` for its own
//! computed point.

#![no_main]

use kizuna_cap::geocode::Gazetteer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(table) = Gazetteer::default().with_file(text) {
        for m in table.iter() {
            if let Some(b) = table.boundary(&m.code) {
                let _ = b.contains(m.point);
                let _ = b.to_geojson();
            }
        }
    }
});
