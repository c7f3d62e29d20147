//! Fuzzes the CAP 1.2 reader (alerts posted by municipal staff or relayed from other
//! systems are untrusted XML): any input must be accepted or refused with problems,
//! never panic; whatever is accepted must write back to XML that reads to the same alert.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(alert) = kizuna_cap::parse(text) {
        let xml = kizuna_cap::xml::to_xml(&alert);
        let again = kizuna_cap::parse(&xml).expect("Kizuna's own XML must read back");
        assert_eq!(alert, again);
    }
});
