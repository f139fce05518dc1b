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

/// Start of the period of length `spec` that contains `now`, periods being laid end to end
/// from `anchor` (any period boundary: the `budget_reset_at` of a record, say).
pub fn period_start(
    anchor: OffsetDateTime,
    spec: &str,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, String> {
    let one = add(anchor, spec)?;
    let spec_t = spec.trim();
    if spec_t.ends_with("mo") || spec_t.ends_with("month") || spec_t.ends_with("months") {
        let n = i64::from(
            spec_t
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .parse::<u32>()
                .map_err(|e| e.to_string())?,
        );
        let months = |t: OffsetDateTime| i64::from(t.year()) * 12 + i64::from(u8::from(t.month()));
        let mut k = (months(now) - months(anchor)).div_euclid(n) + 1;
        loop {
            let start = add_months(anchor, k * n).ok_or("period out of range")?;
            if start <= now {
                return Ok(start);
            }
            k -= 1;
        }
    }
    let len = (one - anchor).whole_milliseconds();
    let since = (now - anchor).whole_milliseconds();
    let k = since.div_euclid(len);
    let ms = i64::try_from(k * len).map_err(|e| e.to_string())?;
    Ok(anchor + Duration::milliseconds(ms))
}

#[cfg(test)]
mod period_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_tile_time_from_any_boundary() {
        let anchor = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(
            period_start(anchor, "1d", datetime!(2026-03-05 13:00 UTC)).unwrap(),
            datetime!(2026-03-05 00:00 UTC)
        );
        assert_eq!(
            period_start(anchor, "30s", datetime!(2026-01-01 00:01:15 UTC)).unwrap(),
            datetime!(2026-01-01 00:01:00 UTC)
        );
        // Before the anchor too (a budget_reset_at in the future).
        assert_eq!(
            period_start(anchor, "1h", datetime!(2025-12-31 22:30 UTC)).unwrap(),
            datetime!(2025-12-31 22:00 UTC)
        );
        assert_eq!(
            period_start(
                datetime!(2026-01-31 00:00 UTC),
                "1mo",
                datetime!(2026-03-15 00:00 UTC)
            )
            .unwrap(),
            datetime!(2026-02-28 00:00 UTC)
        );
        assert_eq!(
            period_start(anchor, "1mo", datetime!(2026-01-01 00:00 UTC)).unwrap(),
            anchor
        );
        assert_eq!(
            period_start(anchor, "1mo", datetime!(2025-11-20 00:00 UTC)).unwrap(),
            datetime!(2025-11-01 00:00 UTC)
        );
    }
}
