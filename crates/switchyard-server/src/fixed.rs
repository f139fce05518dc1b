//! Fixed-point decimals for headers and log lines: integer arithmetic, no float formatting
//! (which costs a request about as much as parsing its body).

use std::fmt;
use std::time::Duration;

/// `units` scaled down by 10^`decimals`: 12,345 units with 3 decimals show as `12.345`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fixed {
    units: u64,
    decimals: u8,
    /// Drop trailing zeros of the fraction (and the point with them).
    trim: bool,
}

impl Fixed {
    /// Milliseconds with three decimals (microsecond resolution, rounded).
    pub(crate) fn millis(d: Duration) -> Self {
        let micros = d.as_nanos().saturating_add(500) / 1000;
        Fixed {
            units: u64::try_from(micros).unwrap_or(u64::MAX),
            decimals: 3,
            trim: false,
        }
    }

    /// US dollars from picodollars, as short as exact: `0.000123`, `0`, `12.5`.
    pub(crate) fn usd_from_pico(pico: u64) -> Self {
        Fixed {
            units: pico,
            decimals: 12,
            trim: true,
        }
    }

    /// US dollars from nano-dollars, as short as exact; negative amounts show as `0`.
    pub(crate) fn usd_from_nano(nano: i64) -> Self {
        Fixed {
            units: u64::try_from(nano).unwrap_or(0),
            decimals: 9,
            trim: true,
        }
    }

    /// A whole number followed by a unit (`61s`), as a header value.
    pub(crate) fn with_unit(n: u64, unit: u8) -> http::HeaderValue {
        let mut buf = Buf::new();
        buf.put(unit);
        Fixed {
            units: n,
            decimals: 0,
            trim: true,
        }
        .write(&mut buf);
        http::HeaderValue::from_bytes(buf.as_bytes()).unwrap_or(http::HeaderValue::from_static("0"))
    }

    /// The text in a header value.
    pub(crate) fn header(self) -> http::HeaderValue {
        http::HeaderValue::from_bytes(self.digits().as_bytes())
            .unwrap_or(http::HeaderValue::from_static("0"))
    }

    /// The text, written right to left into a stack buffer.
    fn digits(self) -> Buf {
        let mut buf = Buf::new();
        self.write(&mut buf);
        buf
    }

    /// Writes the text in front of what `buf` holds.
    fn write(self, buf: &mut Buf) {
        let scale = 10u64.pow(u32::from(self.decimals));
        let (mut int, mut frac) = (self.units / scale, self.units % scale);
        let mut width = usize::from(self.decimals);
        if self.trim {
            if frac == 0 {
                width = 0;
            }
            while width > 0 && frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
        }
        if width > 0 {
            for _ in 0..width {
                buf.put(b'0' + (frac % 10) as u8);
                frac /= 10;
            }
            buf.put(b'.');
        }
        loop {
            buf.put(b'0' + (int % 10) as u8);
            int /= 10;
            if int == 0 {
                return;
            }
        }
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(self.digits().as_bytes()).map_err(|_| fmt::Error)?)
    }
}

/// A stack buffer long enough for any `Fixed` (20 digits, a point) or a number and a unit,
/// filled from the end.
struct Buf {
    bytes: [u8; 24],
    start: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            bytes: [0; 24],
            start: 24,
        }
    }

    fn put(&mut self, b: u8) {
        self.start -= 1;
        self.bytes[self.start] = b;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_keep_three_decimals_and_round() {
        assert_eq!(
            Fixed::millis(Duration::from_nanos(12_345_499)).to_string(),
            "12.345"
        );
        assert_eq!(
            Fixed::millis(Duration::from_nanos(12_345_500)).to_string(),
            "12.346"
        );
        assert_eq!(Fixed::millis(Duration::ZERO).to_string(), "0.000");
        assert_eq!(Fixed::millis(Duration::from_micros(7)).to_string(), "0.007");
        assert_eq!(Fixed::millis(Duration::from_secs(3)).header(), "3000.000");
    }

    #[test]
    fn nano_dollars_match_float_display_and_units_follow_numbers() {
        for nano in [
            0i64,
            1,
            10,
            123_456_789,
            1_500_000_000,
            2_500_000_000,
            1_000_000_000_000_000_000,
        ] {
            let fixed = Fixed::usd_from_nano(nano).to_string();
            assert_eq!(fixed, (nano as f64 / 1e9).to_string(), "{nano}");
        }
        assert_eq!(Fixed::usd_from_nano(-5).to_string(), "0");
        assert_eq!(Fixed::with_unit(61, b's'), "61s");
        assert_eq!(Fixed::with_unit(0, b's'), "0s");
        assert_eq!(Fixed::with_unit(u64::MAX, b's'), "18446744073709551615s");
    }

    #[test]
    fn dollars_are_as_short_as_exact_and_match_float_display() {
        for pico in [
            0u64,
            1,
            10,
            123_456_789,
            1_500_000_000_000,
            2_000_000_000_000,
            99_999,
        ] {
            let fixed = Fixed::usd_from_pico(pico).to_string();
            assert_eq!(fixed, (pico as f64 / 1e12).to_string(), "{pico}");
        }
        assert_eq!(
            Fixed::usd_from_pico(u64::MAX).header(),
            "18446744.073709551615"
        );
    }
}
