//! Japanese municipality codes (全国地方公共団体コード) as CAP `geocode`s.
//!
//! # The code
//!
//! The 6-digit 全国地方公共団体コード (the nationwide local public entity code of the Ministry
//! of Internal Affairs and Communications, 総務省; the first five digits are JIS X 0402):
//! two digits of prefecture (JIS X 0401: 群馬県 is `10`), three of municipality (`2xx` cities,
//! `3xx`–`5xx` towns and villages grouped by district, `1xx` designated cities and wards),
//! and a check digit (検査数字).
//!
//! The check digit ([`check_digit`]): multiply the first five digits by 6, 5, 4, 3, 2, add the
//! products, take the remainder modulo 11, subtract it from 11 and keep the last digit of the
//! result (remainder 0 → 11 → `1`, remainder 1 → 10 → `0`). Example: 前橋市 `10201`:
//! 1·6 + 0·5 + 2·4 + 0·3 + 1·2 = 16; 16 mod 11 = 5; 11 − 5 = 6 → `102016`.
//!
//! # In CAP
//!
//! `<geocode><valueName>JP-LGCode</valueName><value>102016</value></geocode>` — the valueName
//! is Kizuna's ([`VALUE_NAME_LG_CODE`]; CAP leaves geocode names to profiles, and no Japanese
//! CAP profile names one), the value always the six digits with the check digit.
//!
//! # The table
//!
//! [`MUNICIPALITIES_CSV`] is `data/gunma-municipalities.csv`: every municipality of 群馬県
//! (12 cities, 15 towns, 8 villages), compiled into the binary. Its format, for loading
//! another prefecture with [`parse_csv`]: UTF-8, lines starting with `#` are comments, then a
//! header line and one line per municipality with the columns
//!
//! | column | content |
//! |---|---|
//! | `code` | the 6-digit code, check digit included |
//! | `name` | the name in kanji (前橋市) |
//! | `kana` | the reading in hiragana (まえばしし) |
//! | `kind` | `city`, `town`, `village` (or `ward`) |
//! | `district` | the 郡 of a town or village (吾妻郡), empty for a city |
//! | `lat`, `lon` | a representative point, WGS 84 decimal degrees |
//!
//! Values must not contain commas (no quoting is supported). To add a prefecture, write such a
//! file from the 総務省 code table (its codes are checked against the check digit on load) and
//! pass its text to [`parse_csv`]; the representative point is whatever the file says (Gunma's
//! are the municipal offices, see the file's header).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::model::{Area, Point, ValueName};

/// The CAP `geocode` valueName Kizuna uses for the 6-digit 全国地方公共団体コード.
pub const VALUE_NAME_LG_CODE: &str = crate::japan::VALUE_NAME_LG_CODE;

/// The 群馬県 table (see the module documentation for the format).
pub const MUNICIPALITIES_CSV: &str = include_str!("../data/gunma-municipalities.csv");

/// What kind of local government.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    City,
    Town,
    Village,
    Ward,
}

/// One municipality.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Municipality {
    /// Six digits, check digit included.
    pub code: String,
    pub name: String,
    pub kana: String,
    pub kind: Kind,
    pub district: Option<String>,
    /// A representative point (for Gunma: the municipal office).
    pub point: Point,
}

impl Municipality {
    /// The two-digit prefecture code (JIS X 0401).
    pub fn prefecture_code(&self) -> &str {
        &self.code[..2]
    }

    /// This municipality as a CAP `geocode`.
    pub fn geocode(&self) -> ValueName {
        ValueName::new(VALUE_NAME_LG_CODE, self.code.clone())
    }

    /// A CAP `area` naming this municipality by its code (the name as `areaDesc`).
    pub fn area(&self) -> Area {
        let mut a = Area::new(self.name.clone());
        a.geocode.push(self.geocode());
        a
    }
}

/// The check digit of a five-digit code (see the module documentation). `None` unless `code5`
/// is exactly five ASCII digits.
pub fn check_digit(code5: &str) -> Option<u8> {
    let b = code5.as_bytes();
    if b.len() != 5 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b.iter().zip([6u32, 5, 4, 3, 2]).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(((11 - sum % 11) % 10) as u8)
}

/// Checks a six-digit code: digits only, and the sixth digit is the check digit of the first
/// five.
pub fn check_code(code6: &str) -> Result<(), String> {
    let b = code6.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return Err(format!("'{code6}' is not a 6-digit local government code"));
    }
    let expected = check_digit(&code6[..5]).ok_or_else(|| format!("'{code6}' is not a 6-digit code"))?;
    if b[5] - b'0' != expected {
        return Err(format!("'{code6}': the check digit should be {expected}"));
    }
    Ok(())
}

/// Reads a municipality table (format in the module documentation). Every problem is
/// reported with its line number.
pub fn parse_csv(text: &str) -> Result<Vec<Municipality>, String> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut header_seen = false;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if !header_seen {
            header_seen = true;
            if cols != ["code", "name", "kana", "kind", "district", "lat", "lon"] {
                return Err(format!("line {line_no}: the header must be code,name,kana,kind,district,lat,lon"));
            }
            continue;
        }
        let [code, name, kana, kind, district, lat, lon] = cols[..] else {
            errors.push(format!("line {line_no}: expected 7 columns, found {}", cols.len()));
            continue;
        };
        if let Err(e) = check_code(code) {
            errors.push(format!("line {line_no}: {e}"));
            continue;
        }
        let kind = match kind {
            "city" => Kind::City,
            "town" => Kind::Town,
            "village" => Kind::Village,
            "ward" => Kind::Ward,
            other => {
                errors.push(format!("line {line_no}: unknown kind '{other}'"));
                continue;
            }
        };
        let (Ok(lat), Ok(lon)) = (lat.parse::<f64>(), lon.parse::<f64>()) else {
            errors.push(format!("line {line_no}: lat/lon are not numbers"));
            continue;
        };
        if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
            errors.push(format!("line {line_no}: lat/lon out of range"));
            continue;
        }
        if name.is_empty() || kana.is_empty() {
            errors.push(format!("line {line_no}: name and kana are required"));
            continue;
        }
        out.push(Municipality {
            code: code.to_string(),
            name: name.to_string(),
            kana: kana.to_string(),
            kind,
            district: (!district.is_empty()).then(|| district.to_string()),
            point: Point::new(lat, lon),
        });
    }
    if !header_seen {
        errors.push("no header line".to_string());
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &out {
        if !seen.insert(m.code.as_str()) {
            errors.push(format!("code {} appears twice", m.code));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("; "))
    }
}

fn table() -> &'static BTreeMap<String, Municipality> {
    static TABLE: OnceLock<BTreeMap<String, Municipality>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The shipped file is checked by this crate's tests; a broken one yields an empty table
        // rather than a panic.
        parse_csv(MUNICIPALITIES_CSV).unwrap_or_default().into_iter().map(|m| (m.code.clone(), m)).collect()
    })
}

/// The shipped municipalities (群馬県), in code order.
pub fn all() -> impl Iterator<Item = &'static Municipality> {
    table().values()
}

/// Looks a municipality up by its 6-digit code (`102016`) or its 5-digit JIS X 0402 code
/// (`10201`).
pub fn lookup(code: &str) -> Option<Municipality> {
    lookup_ref(code).cloned()
}

/// Like [`lookup`], without cloning.
pub fn lookup_ref(code: &str) -> Option<&'static Municipality> {
    let full = match code.len() {
        5 => format!("{code}{}", check_digit(code)?),
        6 => code.to_string(),
        _ => return None,
    };
    table().get(&full)
}

/// Looks a municipality up by its name in kanji (前橋市).
pub fn by_name(name: &str) -> Option<&'static Municipality> {
    table().values().find(|m| m.name == name)
}
