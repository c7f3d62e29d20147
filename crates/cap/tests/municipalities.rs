//! The national table of local governments and their boundaries, and a city's own file.

use std::collections::BTreeMap;

use kizuna_cap::geocode::{self, check_code, Gazetteer, Kind};
use kizuna_cap::{Point, ValueName};

fn national() -> Gazetteer {
    Gazetteer::national().expect("the shipped table loads")
}

#[test]
fn every_row_has_a_valid_check_digit_and_the_totals_are_the_published_ones() {
    let g = national();
    // The shipped file parses without a single problem (the runtime table falls back to empty).
    assert_eq!(geocode::parse_csv(geocode::MUNICIPALITIES_CSV).expect("valid file").len(), g.len());
    let mut count: BTreeMap<Kind, usize> = BTreeMap::new();
    for m in g.iter() {
        check_code(&m.code).unwrap_or_else(|e| panic!("{} {}: {e}", m.code, m.name));
        *count.entry(m.kind).or_default() += 1;
        assert!(!m.kana.is_empty() && m.kana.chars().all(|c| ('ぁ'..='ゖ').contains(&c) || c == 'ー'), "{m:?}");
        // Everything lies in Japan's extent (南鳥島 153.98°E, 沖ノ鳥島 20.4°N).
        assert!((20.0..=46.0).contains(&m.point.lat) && (122.0..=154.1).contains(&m.point.lon), "{m:?}");
    }
    // 総務省, 全国地方公共団体コード, the table of current 団体, unchanged from 2018-10-01 (那珂川市
    // became a city) to the sources' dates: 47 都道府県, 792 市 (20 政令指定都市 among them),
    // 743 町, 183 村 — 1,718 市町村 — and 23 特別区: 1,741 市区町村. 行政区: 175 until 浜松市
    // went from 7 wards to 3 on 2024-01-01, 171 since.
    assert_eq!(count[&Kind::Prefecture], 47);
    assert_eq!(count[&Kind::City], 792);
    assert_eq!(count[&Kind::Town], 743);
    assert_eq!(count[&Kind::Village], 183);
    assert_eq!(count[&Kind::SpecialWard], 23);
    assert_eq!(count[&Kind::Ward], 171);
    assert_eq!(g.iter().filter(|m| m.kind.is_municipality()).count(), 1741);
    // The 政令指定都市 are the cities that have wards: 20.
    let designated: Vec<&str> = g
        .iter()
        .filter(|c| c.kind == Kind::City && g.iter().any(|w| w.kind == Kind::Ward && w.name.starts_with(&c.name)))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(designated.len(), 20, "{designated:?}");
    // 浜松市: the three wards of 2024 (22138–22140), none of the seven before (22131–22137).
    for old in 22131..=22137 {
        assert_eq!(geocode::lookup(&old.to_string()), None, "{old}");
    }
    for (code, name) in [("221384", "浜松市中央区"), ("221392", "浜松市浜名区"), ("221406", "浜松市天竜区")]
    {
        assert_eq!(g.get(code).map(|m| m.name.as_str()), Some(name));
    }
}

#[test]
fn counts_per_prefecture_match_the_published_table() {
    // 市 (政令指定都市 included), 町, 村 per prefecture as published for 2019-05-01 (benricho.org,
    // 「全国都道府県別 市区町村数一覧」, after the 総務省 table; no prefecture's count has changed
    // since 2018-10-01). The excerpt reachable from here covers these 13 prefectures.
    let published: [(&str, usize, usize, usize); 13] = [
        ("01", 35, 129, 15),
        ("02", 10, 22, 8),
        ("03", 14, 15, 4),
        ("04", 14, 20, 1),
        ("05", 13, 9, 3),
        ("06", 13, 19, 3),
        ("07", 13, 31, 15),
        ("08", 32, 10, 2),
        ("09", 14, 11, 0),
        ("10", 12, 15, 8),
        ("11", 40, 22, 1),
        ("12", 37, 16, 1),
        ("13", 26, 5, 8),
    ];
    let g = national();
    for (pref, cities, towns, villages) in published {
        let n = |k: Kind| g.iter().filter(|m| m.prefecture_code() == pref && m.kind == k).count();
        assert_eq!((n(Kind::City), n(Kind::Town), n(Kind::Village)), (cities, towns, villages), "prefecture {pref}");
    }
    let special = |pref: &str| g.iter().filter(|m| m.prefecture_code() == pref && m.kind == Kind::SpecialWard).count();
    assert_eq!(special("13"), 23);
    assert_eq!((1..=47).map(|p| special(&format!("{p:02}"))).sum::<usize>(), 23);
}

#[test]
fn chiyoda_and_maebashi_are_known_with_their_boundaries() {
    let m = geocode::lookup("131016").expect("千代田区");
    assert_eq!((m.name.as_str(), m.kana.as_str(), m.kind), ("千代田区", "ちよだく", Kind::SpecialWard));
    assert_eq!(geocode::lookup("13101"), Some(m.clone()));
    assert_eq!(geocode::lookup("131017"), None, "wrong check digit");
    let area = m.area();
    assert_eq!(area.geocode, [ValueName::new("JP-LGCode", "131016")]);
    // 千代田区役所 (九段南1-2-1) and 国会議事堂 are in 千代田区; 新宿駅 is not.
    let chiyoda = geocode::boundary("131016").expect("a boundary");
    assert!(chiyoda.contains(Point::new(35.6940, 139.7536)));
    assert!(chiyoda.contains(Point::new(35.6759, 139.7449)));
    assert!(!chiyoda.contains(Point::new(35.6896, 139.7006)));
    // 前橋市役所 (大手町2-12-1) is in 前橋市, in 群馬県, not in 高崎市.
    let office = Point::new(36.3895, 139.0634);
    assert!(geocode::boundary("102016").expect("前橋市").contains(office));
    assert!(geocode::boundary("100005").expect("群馬県").contains(office));
    assert!(!geocode::boundary("102024").expect("高崎市").contains(office));
    assert!(!geocode::boundary("110001").expect("埼玉県").contains(office));
    assert_eq!(geocode::lookup("104299").and_then(|m| m.district), Some("吾妻郡".to_string()));
    assert_eq!(geocode::by_name("みなかみ町").map(|m| m.code.as_str()), Some("104493"));
    // Readings with small kana (the 総務省 source writes some large).
    assert_eq!(geocode::lookup("112062").map(|m| m.kana), Some("ぎょうだし".to_string()));
}

#[test]
fn every_prefecture_and_municipality_has_a_boundary_holding_its_point() {
    let g = national();
    let mut with = 0;
    for m in g.iter() {
        let b = g.boundary(&m.code);
        if m.kind == Kind::Prefecture || m.kind.is_municipality() {
            let b = b.unwrap_or_else(|| panic!("no boundary for {} {}", m.code, m.name));
            assert!(b.contains(m.point), "{} {}: its point {:?} is outside", m.code, m.name, m.point);
            // And the prefecture's boundary holds it too.
            let pref = format!("{}000", m.prefecture_code());
            let pref = format!("{pref}{}", geocode::check_digit(&pref[..5]).unwrap_or(0));
            if m.kind.is_municipality() {
                assert!(g.boundary(&pref).is_some_and(|p| p.meets_bbox(b.bbox())), "{} {}", m.code, m.name);
            }
            with += 1;
        }
    }
    assert_eq!(with, 47 + 1741);
    // The wards of 京都市 and 広島市 have theirs (the JMA draws them); the others have a point.
    assert!(g.boundary("261017").is_some() && g.boundary("341011").is_some() && g.boundary("011011").is_none());
}

const CUSTOM_CSV: &str = "# a prefecture's correction\ncode,name,kana,kind,district,lat,lon\n\
    102016,前橋市,まえばしし,city,,36.3895,139.0634\n999997,試験市,しけんし,city,,36.0,139.0\n";

#[test]
fn a_custom_csv_replaces_and_adds_entries() {
    // 99999 + check digit 7: not a real code, but a well-formed one.
    assert_eq!(geocode::check_digit("99999"), Some(7));
    let g = national().with_file(CUSTOM_CSV).expect("valid");
    let m = g.get("102016").expect("前橋市");
    assert_eq!((m.point.lat, m.point.lon), (36.3895, 139.0634));
    assert!(g.boundary("102016").is_some(), "a CSV keeps the national boundary");
    assert_eq!(g.get("999997").map(|m| m.name.as_str()), Some("試験市"));
    assert_eq!(g.len(), national().len() + 1);
}

#[test]
fn a_custom_geojson_brings_its_boundary() {
    let text = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "999997", "name": "試験市", "kana": "しけんし", "kind": "city"},
         "geometry": {"type": "Polygon", "coordinates": [[[139.0, 36.0], [139.1, 36.0], [139.1, 36.1], [139.0, 36.1], [139.0, 36.0]]]}},
        {"type": "Feature", "properties": {"code": "102016", "kana": "まえばしし"}, "geometry": null}
    ]}"#;
    let g = national().with_file(text).expect("valid");
    let b = g.boundary("999997").expect("its boundary");
    assert!(b.contains(Point::new(36.05, 139.05)) && !b.contains(Point::new(36.2, 139.05)));
    let m = g.get("999997").expect("entry");
    assert!(b.contains(m.point), "the point is computed inside: {:?}", m.point);
    assert_eq!(g.get("102016").map(|m| m.name.as_str()), Some("前橋市"), "absent members keep the national values");
    assert_eq!(g.boundary("102016"), national().boundary("102016"), "a null geometry keeps the national boundary");
}

#[test]
fn a_bad_file_is_refused_with_every_problem_named() {
    let bad_csv = "code,name,kana,kind,district,lat,lon\n102017,前橋市,まえばしし,city,,36.4,139.1\n\
        102024,高崎市,たかさきし,metropolis,,36.3,139.0\n102032,桐生市\n";
    let e = national().with_file(bad_csv).unwrap_err();
    assert!(e.contains("line 2") && e.contains("check digit"), "{e}");
    assert!(e.contains("line 3: unknown kind 'metropolis'"), "{e}");
    assert!(e.contains("line 4: expected 7 columns"), "{e}");
    assert!(national().with_file("code,name\n").unwrap_err().contains("line 1: the header"));

    let bad_geojson = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "999997", "name": "試験市"}, "geometry": null},
        {"type": "Feature", "properties": {"code": "102016"}, "geometry": {"type": "Polygon", "coordinates": [[[139.0, 36.0], [139.1, 36.0], [139.0, 36.0]]]}},
        {"type": "Feature", "properties": {"code": "102024", "kind": "metropolis"}, "geometry": null},
        {"type": "Feature", "properties": {"code": "10203"}, "geometry": null},
        {"type": "Feature", "properties": {"code": "102041", "label": [139.2]}, "geometry": null},
        {"type": "Feature", "properties": {"code": "102059"}, "geometry": {"type": "LineString", "coordinates": [[139.0, 36.0], [139.1, 36.0]]}}
    ]}"#;
    let e = national().with_file(bad_geojson).unwrap_err();
    for want in [
        "features[0] (code 999997): properties.kana is required",
        "features[1] (code 102016): geometry: polygon 0 ring 0: 3 positions",
        "features[2] (code 102024): properties.kind 'metropolis'",
        "features[3] (code 10203): properties.code: '10203' is not a 6-digit",
        "features[4] (code 102041): properties.label [139.2] is not [lon, lat]",
        "features[5] (code 102059): geometry: type 'LineString'",
    ] {
        assert!(e.contains(want), "missing «{want}» in: {e}");
    }
    assert!(national().with_file("{\"type\": \"Feature\"}").unwrap_err().contains("FeatureCollection"));
    assert!(national().with_file("{not json").unwrap_err().starts_with("not JSON"));
}
