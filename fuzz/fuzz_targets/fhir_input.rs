//! Fuzzes what FHIR clients send (untrusted): any bytes as a resource (JSON) must be
//! validated and indexed without panicking, and as a search query string (chained
//! parameters included) or the criteria of a conditional create, update or reference must
//! parse or be refused with an error; every date search value must parse or be refused.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = kizuna_fhir::validate_resource(&v);
        let _ = kizuna_fhir::search::index(&v);
        let _ = kizuna_fhir::thresholds::assess_all(&v, &kizuna_fhir::thresholds::Thresholds::default());
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    for rtype in ["Observation", "Patient", "Flag"] {
        let _ = kizuna_api_fhir::query::parse(rtype, &pairs, false);
        let _ = kizuna_api_fhir::query::parse(rtype, &pairs, true);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(criteria) = kizuna_api_fhir::conditional::criteria_pairs(text, "If-None-Exist") {
            let _ = kizuna_api_fhir::query::parse("Patient", &criteria, true);
        }
        let _ = kizuna_api_fhir::conditional::as_reference(text);
        if let Ok((lo, hi)) = kizuna_fhir::search::date_range(text) {
            assert!(lo <= hi, "a date range must not be inverted: {text}");
        }
    }
});
