//! LiteLLM's durations: `30s`, `30m`, `30h`, `30d`, `2w`, `1mo` (calendar months).

use time::{Duration, OffsetDateTime};

/// `t` plus a duration string; an error names what is wrong.
pub fn add(t: OffsetDateTime, spec: &str) -> Result<OffsetDateTime, String> {
    let s = spec.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n < 100_000)
        .ok_or_else(|| format!("invalid duration {spec:?}: use a number and a unit, as 30s, 10m, 1h, 7d, 2w or 1mo"))?;
    let d = match unit.trim() {
        "s" | "sec" | "second" | "seconds" => Duration::seconds(n),
        "m" | "min" | "minute" | "minutes" => Duration::minutes(n),
        "h" | "hr" | "hour" | "hours" => Duration::hours(n),
        "d" | "day" | "days" => Duration::days(n),
        "w" | "week" | "weeks" => Duration::weeks(n),
        "mo" | "month" | "months" => {
            return add_months(t, n).ok_or_else(|| format!("duration {spec:?} is too long"))
        }
        _ => {
            return Err(format!(
                "invalid duration {spec:?}: unknown unit {unit:?} (use s, m, h, d, w or mo)"
            ))
        }
    };
    t.checked_add(d)
        .ok_or_else(|| format!("duration {spec:?} is too long"))
}

fn add_months(t: OffsetDateTime, n: i64) -> Option<OffsetDateTime> {
    let months = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + n;
    let year = i32::try_from(months.div_euclid(12)).ok()?;
    let month = time::Month::try_from(u8::try_from(months.rem_euclid(12) + 1).ok()?).ok()?;
    let day = t.day().min(time::util::days_in_month(month, year));
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some(t.replace_date(date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parses_litellm_durations() {
        let t = datetime!(2026-01-31 10:00 UTC);
        assert_eq!(add(t, "30s").unwrap(), datetime!(2026-01-31 10:00:30 UTC));
        assert_eq!(add(t, "10m").unwrap(), datetime!(2026-01-31 10:10 UTC));
        assert_eq!(add(t, "2h").unwrap(), datetime!(2026-01-31 12:00 UTC));
        assert_eq!(add(t, "1d").unwrap(), datetime!(2026-02-01 10:00 UTC));
        assert_eq!(add(t, "1w").unwrap(), datetime!(2026-02-07 10:00 UTC));
        assert_eq!(add(t, "1mo").unwrap(), datetime!(2026-02-28 10:00 UTC));
        assert_eq!(add(t, "12mo").unwrap(), datetime!(2027-01-31 10:00 UTC));
        for bad in ["", "d", "5", "5y", "-1d", "0s"] {
            assert!(add(t, bad).is_err(), "{bad}");
        }
    }
}
