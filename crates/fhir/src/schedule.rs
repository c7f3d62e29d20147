//! The routine immunisation schedule (定期接種, 予防接種法 A類) computed from a child's
//! birth date, with each dose's status given the Immunization resources recorded.
//!
//! Sources: 厚生労働省「定期接種実施要領」and the 予防接種スケジュール of 国立感染症研究所
//! (<https://www.niid.go.jp/niid/ja/schedule.html>), as restated by municipalities (e.g.
//! 安曇野市「予防接種の種類と接種期間」). For each dose the schedule gives:
//!
//! - `eligible_from`: the start of the publicly funded period (and, when the previous dose of
//!   the series is recorded, no earlier than the minimum interval after it);
//! - `standard_from` .. `standard_until`: the 標準的な接種期間;
//! - `funded_until`: the first day no longer covered as 定期接種 (exclusive end).
//!
//! Ages are calendar ages: "生後 n 月に至った日" is the same day of the month n months after
//! birth (clamped to the month's last day), "n 歳" is the n-th birthday. Windows (exclusive
//! ends) used here:
//!
//! | vaccine | doses | eligible (funded) | standard |
//! |---|---|---|---|
//! | 5種混合 DPT-IPV-Hib (born ≥ 2024-02-01 by default) | 1期初回 ×3, 追加 ×1 | 2 months – 90 months | 初回 from 2–7 months, complete by 12 months (≥ 20 days apart); 追加 6–18 months after the 3rd |
//! | 4種混合 DPT-IPV + ヒブ (older children) | 3+1 each | DPT-IPV 2–90 months; Hib 2–60 months | 初回 2–7 months; DPT-IPV 追加 12–18 months after, Hib 追加 7–13 months after the 3rd |
//! | 小児用肺炎球菌 | 3+1 | 2–60 months | 初回 from 2–7 months (≥ 27 days apart); 追加 12–15 months of age, ≥ 60 days after the 3rd |
//! | B型肝炎 | 3 | birth – 12 months | 2, 3 and 7–8 months (2nd ≥ 27 days, 3rd ≥ 139 days after the 1st) |
//! | ロタ (1価 2 doses to 24 weeks; 5価 3 doses to 32 weeks) | 2 or 3 | 6 weeks – 24/32 weeks (+1 day) | 1st by 14 weeks 6 days; ≥ 27 days apart |
//! | BCG | 1 | birth – 12 months | 5–8 months |
//! | MR | 1期, 2期 | 1期 12–24 months; 2期 the school year (April–March) before primary school | — |
//! | 水痘 | 2 | 12–36 months | 1st 12–15 months; 2nd 6–12 months after the 1st (≥ 3 months) |
//! | 日本脳炎 | 1期初回 ×2, 1期追加, 2期 | 1期 6–90 months; 2期 9–13 years | 初回 at 3 years (6–28 days apart); 追加 at 4 years (≥ 6 months after); 2期 at 9 years |
//! | 二種混合 DT | 2期 | 11–13 years | 11 years |
//! | HPV (girls) | 3 | 年度 of the 12th birthday (小6) to the end of the 年度 of the 16th (高1) | 年度 of the 13th birthday (中1) |
//!
//! Simplifications (documented, to refine with the 実施要領): the Hib and PCV dose counts
//! that shrink when a series starts late (after 7 months / 12 months) are not modelled; the
//! HPV series is shown as 3 doses (9価 started before 15 takes 2); a school year starts on
//! April 1 and a child born on April 1 belongs to the earlier year (学校教育法).

use crate::codes::{self, RoutineVaccine};
use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The status of one scheduled dose on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoseStatus {
    /// Recorded as given.
    Done,
    /// Not yet eligible.
    Upcoming,
    /// Eligible and within (or before the end of) the standard period.
    Due,
    /// Past the standard period but still publicly funded.
    Overdue,
    /// The publicly funded period has ended without the dose.
    Expired,
}

/// Rotavirus product (the number of doses and the window differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RotaProduct {
    /// 1価 (Rotarix): 2 doses, up to 24 weeks.
    #[default]
    Monovalent,
    /// 5価 (RotaTeq): 3 doses, up to 32 weeks.
    Pentavalent,
}

/// Sex, for HPV (routine for girls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
}

/// Choices that change the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScheduleOptions {
    /// `Some(true)`: 5種混合; `Some(false)`: 4種混合 + ヒブ; `None`: by birth date (5種混合
    /// for children born on or after 2024-02-01, who reach 2 months once it is routine from
    /// 2024-04-01).
    pub five_in_one: Option<bool>,
    pub rota: RotaProduct,
    /// `None` lists HPV (the guardian decides).
    pub sex: Option<Sex>,
}

/// One scheduled dose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledDose {
    pub vaccine: RoutineVaccine,
    /// The code in [`codes::JP_VACCINE`].
    pub code: String,
    /// `5種混合(DPT-IPV-Hib) 1期初回 1回目`.
    pub label: String,
    /// Position in the vaccine's series (1-based).
    pub dose_number: u32,
    pub eligible_from: NaiveDate,
    pub standard_from: NaiveDate,
    /// Exclusive.
    pub standard_until: NaiveDate,
    /// Exclusive: the first day outside 定期接種.
    pub funded_until: NaiveDate,
    pub status: DoseStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_on: Option<NaiveDate>,
}

/// When a dose's window starts or ends.
#[derive(Debug, Clone, Copy)]
enum At {
    Weeks(u64),
    WeeksPlusDay(u64),
    Months(u32),
    /// April 1 of the school year before primary school.
    PreSchoolYearStart,
    /// April 1 of primary school entry.
    SchoolEntry,
    /// April 1 of the 年度 containing the day before the n-th birthday (n 歳となる日の属する年度).
    FiscalYearOfAge(i32),
    /// April 1 after that 年度.
    AfterFiscalYearOfAge(i32),
}

fn add_months(d: NaiveDate, m: u32) -> NaiveDate {
    d.checked_add_months(Months::new(m)).unwrap_or(NaiveDate::MAX)
}

fn add_days(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).unwrap_or(NaiveDate::MAX)
}

fn april1(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 4, 1).unwrap_or(NaiveDate::MAX)
}

/// The year of April 1 on which the child enters primary school (born April 2 – April 1).
pub fn school_entry(birth: NaiveDate) -> NaiveDate {
    let born_by_april1 = (birth.month(), birth.day()) <= (4, 1);
    april1(birth.year() + if born_by_april1 { 6 } else { 7 })
}

fn fiscal_year_start(d: NaiveDate) -> NaiveDate {
    april1(if d.month() >= 4 { d.year() } else { d.year() - 1 })
}

impl At {
    fn date(self, birth: NaiveDate) -> NaiveDate {
        match self {
            At::Weeks(w) => add_days(birth, 7 * w),
            At::WeeksPlusDay(w) => add_days(birth, 7 * w + 1),
            At::Months(m) => add_months(birth, m),
            At::PreSchoolYearStart => april1(school_entry(birth).year() - 1),
            At::SchoolEntry => school_entry(birth),
            At::FiscalYearOfAge(n) | At::AfterFiscalYearOfAge(n) => {
                // "n 歳となる日" is the day before the n-th birthday (年齢計算ニ関スル法律).
                let nth = add_months(birth, 12 * n as u32);
                let day = nth.pred_opt().unwrap_or(nth);
                let start = fiscal_year_start(day);
                if matches!(self, At::AfterFiscalYearOfAge(_)) {
                    april1(start.year() + 1)
                } else {
                    start
                }
            }
        }
    }
}

/// A dose rule.
#[derive(Debug, Clone, Copy)]
struct Rule {
    label: &'static str,
    from: At,
    std_from: At,
    std_until: At,
    until: At,
    /// Minimum days after the previous dose of the series.
    min_interval_days: u64,
    /// Minimum days after the first dose of the series (HepB 3rd: 139).
    min_days_after_first: u64,
    /// Standard window relative to the previous dose, in months, when it is recorded.
    std_after_prev_months: Option<(u32, u32)>,
}

const fn r(label: &'static str, from: At, std_from: At, std_until: At, until: At) -> Rule {
    Rule {
        label,
        from,
        std_from,
        std_until,
        until,
        min_interval_days: 0,
        min_days_after_first: 0,
        std_after_prev_months: None,
    }
}

const fn gap(mut rule: Rule, days: u64) -> Rule {
    rule.min_interval_days = days;
    rule
}

const fn after(mut rule: Rule, from_m: u32, until_m: u32) -> Rule {
    rule.std_after_prev_months = Some((from_m, until_m));
    rule
}

/// A series: a vaccine, the recorded vaccines that count towards it, and its doses.
struct Series {
    vaccine: RoutineVaccine,
    counted_by: &'static [RoutineVaccine],
    doses: Vec<Rule>,
}

fn series(opts: &ScheduleOptions, birth: NaiveDate) -> Vec<Series> {
    use At::*;
    use RoutineVaccine as RV;
    let five = opts.five_in_one.unwrap_or(birth >= NaiveDate::from_ymd_opt(2024, 2, 1).unwrap_or(NaiveDate::MIN));
    let primary = |until: At, gap_days: u64| {
        vec![
            r("1期初回 1回目", Months(2), Months(2), Months(7), until),
            gap(r("1期初回 2回目", Months(2), Months(2), Months(12), until), gap_days),
            gap(r("1期初回 3回目", Months(2), Months(2), Months(12), until), gap_days),
        ]
    };
    let mut out = Vec::new();
    if five {
        let mut d = primary(Months(90), 20);
        d.push(after(gap(r("1期追加", Months(2), Months(10), Months(24), Months(90)), 183), 6, 18));
        out.push(Series { vaccine: RV::DptIpvHib, counted_by: &[RV::DptIpvHib], doses: d });
    } else {
        let mut d = primary(Months(60), 27);
        d.push(after(gap(r("追加", Months(2), Months(12), Months(18), Months(60)), 213), 7, 13));
        out.push(Series { vaccine: RV::Hib, counted_by: &[RV::Hib, RV::DptIpvHib], doses: d });
        let mut d = primary(Months(90), 20);
        d.push(after(gap(r("1期追加", Months(2), Months(12), Months(24), Months(90)), 183), 12, 18));
        out.push(Series { vaccine: RV::DptIpv, counted_by: &[RV::DptIpv, RV::DptIpvHib], doses: d });
    }
    let mut pcv = vec![
        r("初回 1回目", Months(2), Months(2), Months(7), Months(60)),
        gap(r("初回 2回目", Months(2), Months(2), Months(12), Months(60)), 27),
        gap(r("初回 3回目", Months(2), Months(2), Months(12), Months(60)), 27),
    ];
    pcv.push(gap(r("追加", Months(12), Months(12), Months(15), Months(60)), 60));
    out.push(Series { vaccine: RV::Pcv, counted_by: &[RV::Pcv], doses: pcv });
    let mut hepb3 = gap(r("3回目", Months(0), Months(7), Months(9), Months(12)), 27);
    hepb3.min_days_after_first = 139;
    out.push(Series {
        vaccine: RV::HepB,
        counted_by: &[RV::HepB],
        doses: vec![
            r("1回目", Months(0), Months(2), Months(3), Months(12)),
            gap(r("2回目", Months(0), Months(3), Months(4), Months(12)), 27),
            hepb3,
        ],
    });
    let (rota_until, rota_n) = match opts.rota {
        RotaProduct::Monovalent => (WeeksPlusDay(24), 2),
        RotaProduct::Pentavalent => (WeeksPlusDay(32), 3),
    };
    let rota_labels = ["1回目", "2回目", "3回目"];
    let rota = (0..rota_n)
        .map(|i| {
            if i == 0 {
                r(rota_labels[i], Weeks(6), Weeks(8), Weeks(15), rota_until)
            } else {
                gap(r(rota_labels[i], Weeks(6), Weeks(8), rota_until, rota_until), 27)
            }
        })
        .collect();
    out.push(Series { vaccine: RV::Rota, counted_by: &[RV::Rota], doses: rota });
    out.push(Series {
        vaccine: RV::Bcg,
        counted_by: &[RV::Bcg],
        doses: vec![r("1回", Months(0), Months(5), Months(8), Months(12))],
    });
    out.push(Series {
        vaccine: RV::Mr,
        counted_by: &[RV::Mr],
        doses: vec![
            r("1期", Months(12), Months(12), Months(24), Months(24)),
            r("2期", PreSchoolYearStart, PreSchoolYearStart, SchoolEntry, SchoolEntry),
        ],
    });
    out.push(Series {
        vaccine: RV::Varicella,
        counted_by: &[RV::Varicella],
        doses: vec![
            r("1回目", Months(12), Months(12), Months(15), Months(36)),
            after(gap(r("2回目", Months(12), Months(18), Months(27), Months(36)), 91), 6, 12),
        ],
    });
    out.push(Series {
        vaccine: RV::JapaneseEncephalitis,
        counted_by: &[RV::JapaneseEncephalitis],
        doses: vec![
            r("1期初回 1回目", Months(6), Months(36), Months(48), Months(90)),
            gap(r("1期初回 2回目", Months(6), Months(36), Months(48), Months(90)), 6),
            after(gap(r("1期追加", Months(6), Months(48), Months(60), Months(90)), 183), 12, 13),
            r("2期", Months(108), Months(108), Months(120), Months(156)),
        ],
    });
    out.push(Series {
        vaccine: RV::Dt,
        counted_by: &[RV::Dt],
        doses: vec![r("2期", Months(132), Months(132), Months(144), Months(156))],
    });
    if opts.sex != Some(Sex::Male) {
        let hpv = |label| {
            r(label, FiscalYearOfAge(12), FiscalYearOfAge(13), AfterFiscalYearOfAge(13), AfterFiscalYearOfAge(16))
        };
        out.push(Series {
            vaccine: RV::Hpv,
            counted_by: &[RV::Hpv],
            doses: vec![hpv("1回目"), gap(hpv("2回目"), 27), gap(hpv("3回目"), 83)],
        });
    }
    out
}

/// `(vaccine, date)` of a completed Immunization coded in [`codes::JP_VACCINE`].
pub fn recorded_dose(immunization: &Value) -> Option<(RoutineVaccine, NaiveDate)> {
    if immunization.get("resourceType").and_then(Value::as_str) != Some("Immunization")
        || immunization.get("status").and_then(Value::as_str) != Some("completed")
    {
        return None;
    }
    let vaccine = immunization
        .get("vaccineCode")?
        .get("coding")?
        .as_array()?
        .iter()
        .filter(|c| c.get("system").and_then(Value::as_str) == Some(codes::JP_VACCINE))
        .find_map(|c| RoutineVaccine::from_code(c.get("code")?.as_str()?))?;
    let when = immunization.get("occurrenceDateTime")?.as_str()?;
    let date = NaiveDate::parse_from_str(when.get(..10)?, "%Y-%m-%d").ok()?;
    Some((vaccine, date))
}

/// The schedule of a child born on `birth`, as of `today`, given the Immunization resources
/// recorded for the child (others are ignored). Recorded doses fill a series in date order.
pub fn schedule(
    birth: NaiveDate,
    today: NaiveDate,
    immunizations: &[Value],
    opts: &ScheduleOptions,
) -> Vec<ScheduledDose> {
    let mut records: Vec<(RoutineVaccine, NaiveDate)> = immunizations.iter().filter_map(recorded_dose).collect();
    records.sort_by_key(|(_, d)| *d);
    let mut out = Vec::new();
    for s in series(opts, birth) {
        let given: Vec<NaiveDate> = records.iter().filter(|(v, _)| s.counted_by.contains(v)).map(|(_, d)| *d).collect();
        let mut prev: Option<NaiveDate> = None;
        for (i, rule) in s.doses.iter().enumerate() {
            let given_on = given.get(i).copied();
            let mut eligible_from = rule.from.date(birth);
            let mut standard_from = rule.std_from.date(birth);
            let mut standard_until = rule.std_until.date(birth);
            let funded_until = rule.until.date(birth);
            if let Some(p) = prev {
                eligible_from = eligible_from.max(add_days(p, rule.min_interval_days));
                if let Some((a, b)) = rule.std_after_prev_months {
                    standard_from = add_months(p, a);
                    standard_until = add_months(p, b);
                }
            }
            if let (Some(first), true) = (given.first(), rule.min_days_after_first > 0) {
                eligible_from = eligible_from.max(add_days(*first, rule.min_days_after_first));
            }
            standard_from = standard_from.max(eligible_from);
            standard_until = standard_until.max(standard_from).min(funded_until);
            let status = match given_on {
                Some(_) => DoseStatus::Done,
                None if today >= funded_until => DoseStatus::Expired,
                None if today < eligible_from => DoseStatus::Upcoming,
                None if today < standard_until => DoseStatus::Due,
                None => DoseStatus::Overdue,
            };
            out.push(ScheduledDose {
                vaccine: s.vaccine,
                code: s.vaccine.code().to_owned(),
                label: format!("{} {}", s.vaccine.display(), rule.label),
                dose_number: i as u32 + 1,
                eligible_from,
                standard_from,
                standard_until,
                funded_until,
                status,
                given_on,
            });
            prev = given_on;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn imm(code: &str, date: &str) -> Value {
        json!({
            "resourceType": "Immunization", "status": "completed",
            "vaccineCode": {"coding": [{"system": codes::JP_VACCINE, "code": code}]},
            "patient": {"reference": "Patient/c"}, "occurrenceDateTime": date
        })
    }

    fn find(s: &[ScheduledDose], v: RoutineVaccine, n: u32) -> &ScheduledDose {
        s.iter().find(|x| x.vaccine == v && x.dose_number == n).expect("dose")
    }

    const BIRTH: &str = "2025-04-10";

    fn at(today: &str, recs: &[Value]) -> Vec<ScheduledDose> {
        schedule(d(BIRTH), d(today), recs, &ScheduleOptions::default())
    }

    #[test]
    fn school_years() {
        assert_eq!(school_entry(d("2019-04-01")), d("2025-04-01"));
        assert_eq!(school_entry(d("2019-04-02")), d("2026-04-01"));
        assert_eq!(school_entry(d("2020-03-31")), d("2026-04-01"));
    }

    #[test]
    fn newborn_everything_upcoming_or_due() {
        let s = at("2025-04-10", &[]);
        assert!(s.iter().all(|x| matches!(x.status, DoseStatus::Upcoming | DoseStatus::Due)));
        // born after 2024-02-01: 5種混合, no separate Hib / 4種混合
        assert!(s.iter().any(|x| x.vaccine == RoutineVaccine::DptIpvHib));
        assert!(!s.iter().any(|x| x.vaccine == RoutineVaccine::Hib));
        // BCG and HepB are eligible from birth
        assert_eq!(find(&s, RoutineVaccine::Bcg, 1).status, DoseStatus::Due);
    }

    #[test]
    fn two_month_boundary() {
        let s = at("2025-06-09", &[]);
        assert_eq!(find(&s, RoutineVaccine::DptIpvHib, 1).status, DoseStatus::Upcoming);
        assert_eq!(find(&s, RoutineVaccine::Pcv, 1).eligible_from, d("2025-06-10"));
        let s = at("2025-06-10", &[]);
        assert_eq!(find(&s, RoutineVaccine::DptIpvHib, 1).status, DoseStatus::Due);
        assert_eq!(find(&s, RoutineVaccine::Pcv, 1).status, DoseStatus::Due);
    }

    #[test]
    fn rota_weeks() {
        let s = at("2025-05-21", &[]); // 6 weeks
        let r1 = find(&s, RoutineVaccine::Rota, 1);
        assert_eq!(r1.eligible_from, d("2025-05-22"));
        assert_eq!(r1.status, DoseStatus::Upcoming);
        assert_eq!(r1.funded_until, d("2025-09-26")); // 24 weeks + 1 day
        assert_eq!(
            at("2025-05-22", &[]).iter().find(|x| x.vaccine == RoutineVaccine::Rota).map(|x| x.status),
            Some(DoseStatus::Due)
        );
        // after 14w6d the first dose is overdue, after 24 weeks (+1 day) expired
        assert_eq!(find(&at("2025-07-24", &[]), RoutineVaccine::Rota, 1).status, DoseStatus::Overdue);
        assert_eq!(find(&at("2025-09-25", &[]), RoutineVaccine::Rota, 1).status, DoseStatus::Overdue);
        assert_eq!(find(&at("2025-09-26", &[]), RoutineVaccine::Rota, 1).status, DoseStatus::Expired);
        let penta = schedule(
            d(BIRTH),
            d("2025-06-10"),
            &[],
            &ScheduleOptions { rota: RotaProduct::Pentavalent, ..Default::default() },
        );
        assert_eq!(penta.iter().filter(|x| x.vaccine == RoutineVaccine::Rota).count(), 3);
        assert_eq!(find(&penta, RoutineVaccine::Rota, 3).funded_until, d("2025-11-21"));
    }

    #[test]
    fn done_and_intervals() {
        let recs =
            [imm("dpt-ipv-hib", "2025-06-10"), imm("hepb", "2025-06-10"), imm("pcv", "2025-06-10T10:00:00+09:00")];
        let s = at("2025-07-01", &recs);
        let first = find(&s, RoutineVaccine::DptIpvHib, 1);
        assert_eq!((first.status, first.given_on), (DoseStatus::Done, Some(d("2025-06-10"))));
        // 2nd dose: ≥ 20 days after the first
        let second = find(&s, RoutineVaccine::DptIpvHib, 2);
        assert_eq!(second.eligible_from, d("2025-06-30"));
        assert_eq!(second.status, DoseStatus::Due);
        // PCV 2nd: ≥ 27 days
        assert_eq!(find(&s, RoutineVaccine::Pcv, 2).eligible_from, d("2025-07-07"));
        assert_eq!(find(&s, RoutineVaccine::Pcv, 2).status, DoseStatus::Upcoming);
        // HepB 3rd: ≥ 139 days after the 1st
        assert_eq!(find(&s, RoutineVaccine::HepB, 3).eligible_from, d("2025-10-27"));
        // not-done or foreign-coded records don't count
        let mut nd = imm("bcg", "2025-09-01");
        nd["status"] = json!("not-done");
        let s = at("2025-10-01", &[nd]);
        assert_eq!(find(&s, RoutineVaccine::Bcg, 1).status, DoseStatus::Due);
    }

    #[test]
    fn booster_window_follows_third_dose() {
        let recs =
            [imm("dpt-ipv-hib", "2025-06-10"), imm("dpt-ipv-hib", "2025-07-10"), imm("dpt-ipv-hib", "2025-08-10")];
        let s = at("2026-01-01", &recs);
        let b = find(&s, RoutineVaccine::DptIpvHib, 4);
        assert_eq!(b.eligible_from, d("2026-02-09")); // ≥ 183 days
        assert_eq!(b.standard_from, d("2026-02-10")); // 6 months after
        assert_eq!(b.standard_until, d("2027-02-10")); // 18 months after
        assert_eq!(b.status, DoseStatus::Upcoming);
    }

    #[test]
    fn bcg_and_hepb_overdue_then_expired() {
        let s = at("2025-12-10", &[]); // 8 months
        assert_eq!(find(&s, RoutineVaccine::Bcg, 1).status, DoseStatus::Overdue);
        let s = at("2026-04-09", &[]);
        assert_eq!(find(&s, RoutineVaccine::Bcg, 1).status, DoseStatus::Overdue);
        let s = at("2026-04-10", &[]); // first birthday
        assert_eq!(find(&s, RoutineVaccine::Bcg, 1).status, DoseStatus::Expired);
        assert_eq!(find(&s, RoutineVaccine::HepB, 1).status, DoseStatus::Expired);
        assert_eq!(find(&s, RoutineVaccine::Mr, 1).status, DoseStatus::Due);
        assert_eq!(find(&s, RoutineVaccine::Varicella, 1).status, DoseStatus::Due);
    }

    #[test]
    fn mr_second_period_is_the_year_before_school() {
        // born 2025-04-10: school entry 2032-04-01; MR 2期 2031-04-01 .. 2032-03-31
        let s = at("2031-03-31", &[]);
        let mr2 = find(&s, RoutineVaccine::Mr, 2);
        assert_eq!(mr2.eligible_from, d("2031-04-01"));
        assert_eq!(mr2.funded_until, d("2032-04-01"));
        assert_eq!(mr2.status, DoseStatus::Upcoming);
        assert_eq!(find(&at("2031-04-01", &[]), RoutineVaccine::Mr, 2).status, DoseStatus::Due);
        assert_eq!(find(&at("2032-04-01", &[]), RoutineVaccine::Mr, 2).status, DoseStatus::Expired);
    }

    #[test]
    fn japanese_encephalitis_and_dt() {
        let s = at("2028-04-10", &[]); // 3 years
        assert_eq!(find(&s, RoutineVaccine::JapaneseEncephalitis, 1).status, DoseStatus::Due);
        assert_eq!(find(&s, RoutineVaccine::JapaneseEncephalitis, 4).eligible_from, d("2034-04-10"));
        assert_eq!(find(&s, RoutineVaccine::Dt, 1).eligible_from, d("2036-04-10"));
        assert_eq!(find(&s, RoutineVaccine::Dt, 1).funded_until, d("2038-04-10"));
        // 7.5 years (90 months): 1期 expired
        let s = at("2032-10-10", &[]);
        assert_eq!(find(&s, RoutineVaccine::JapaneseEncephalitis, 1).status, DoseStatus::Expired);
        assert_eq!(find(&s, RoutineVaccine::DptIpvHib, 4).status, DoseStatus::Expired);
        assert_eq!(find(&at("2032-10-09", &[]), RoutineVaccine::DptIpvHib, 4).status, DoseStatus::Overdue);
    }

    #[test]
    fn hpv_fiscal_years() {
        // born 2025-04-10: turns 12 on 2037-04-09 (the day before the birthday) → FY2037
        let s = at("2037-03-31", &[]);
        let h = find(&s, RoutineVaccine::Hpv, 1);
        assert_eq!(h.eligible_from, d("2037-04-01"));
        assert_eq!(h.standard_from, d("2038-04-01"));
        assert_eq!(h.standard_until, d("2039-04-01"));
        assert_eq!(h.funded_until, d("2042-04-01"));
        assert_eq!(h.status, DoseStatus::Upcoming);
        // born on April 1: 12 歳となる日 is March 31 → the previous fiscal year (same grade as
        // those born the April before)
        let s = schedule(d("2025-04-01"), d("2036-04-01"), &[], &ScheduleOptions::default());
        assert_eq!(find(&s, RoutineVaccine::Hpv, 1).eligible_from, d("2036-04-01"));
        let boys =
            schedule(d(BIRTH), d("2038-01-01"), &[], &ScheduleOptions { sex: Some(Sex::Male), ..Default::default() });
        assert!(!boys.iter().any(|x| x.vaccine == RoutineVaccine::Hpv));
    }

    #[test]
    fn older_child_gets_four_in_one_and_hib() {
        let s = schedule(
            d("2023-10-01"),
            d("2024-01-01"),
            &[imm("dpt-ipv-hib", "2023-12-01")],
            &ScheduleOptions::default(),
        );
        assert!(s.iter().any(|x| x.vaccine == RoutineVaccine::Hib));
        assert!(s.iter().any(|x| x.vaccine == RoutineVaccine::DptIpv));
        // a 5種混合 dose counts for both
        assert_eq!(find(&s, RoutineVaccine::Hib, 1).status, DoseStatus::Done);
        assert_eq!(find(&s, RoutineVaccine::DptIpv, 1).status, DoseStatus::Done);
        assert_eq!(find(&s, RoutineVaccine::Hib, 1).funded_until, d("2028-10-01"));
    }

    #[test]
    fn serialises() {
        let s = at("2025-06-10", &[]);
        let j = serde_json::to_value(&s[0]).expect("json");
        assert_eq!(j["code"], "dpt-ipv-hib");
        assert_eq!(j["status"], "due");
        assert_eq!(j["eligible_from"], "2025-06-10");
    }
}
