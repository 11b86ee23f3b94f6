//! Number conversions between counters (`u64` bytes, `usize` lengths,
//! `i64` milliseconds) and the `f64` that charts, bars and sizes compute
//! with, in one place so each one says once what it may lose.
//!
//! To `f64`: exact up to 2^53 (8 PiB, or 285,000 years of milliseconds);
//! beyond that rounded to the nearest `f64`, a relative error under 1e-16
//! that no graph, bar or formatted size can show.
//!
//! From `f64`: toward zero and saturating, as Rust's `as` defines it:
//! NaN and negatives give 0, values past the type's range its maximum.
//! Callers round first where they mean to round.

/// `n` as `f64` (exact up to 2^53, see the module docs).
// Precision loss above 2^53 is the documented, invisible rounding.
#[allow(clippy::cast_precision_loss)]
pub fn f64_from_u64(n: u64) -> f64 {
    n as f64
}

/// `n` as `f64` (exact up to 2^53, see the module docs).
// Precision loss above 2^53 is the documented, invisible rounding.
#[allow(clippy::cast_precision_loss)]
pub fn f64_from_usize(n: usize) -> f64 {
    n as f64
}

/// `n` as `f64` (exact for |n| up to 2^53, see the module docs).
// Precision loss above 2^53 is the documented, invisible rounding.
#[allow(clippy::cast_precision_loss)]
pub fn f64_from_i64(n: i64) -> f64 {
    n as f64
}

/// `v` as `u64`: toward zero, negatives and NaN 0, saturating at `u64::MAX`.
// Float-to-int `as` saturates and maps NaN to 0: the documented behaviour.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn u64_from_f64(v: f64) -> u64 {
    v as u64
}

/// `v` as `usize`: toward zero, negatives and NaN 0, saturating.
// Float-to-int `as` saturates and maps NaN to 0: the documented behaviour.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn usize_from_f64(v: f64) -> usize {
    v as usize
}

/// `v` as `i64`: toward zero, NaN 0, saturating at both ends.
// Float-to-int `as` saturates and maps NaN to 0: the documented behaviour.
#[allow(clippy::cast_possible_truncation)]
pub fn i64_from_f64(v: f64) -> i64 {
    v as i64
}

/// `v` as `u16`: toward zero, negatives and NaN 0, saturating at 65,535.
// Float-to-int `as` saturates and maps NaN to 0: the documented behaviour.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn u16_from_f64(v: f64) -> u16 {
    v as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_and_stay_exact_where_it_matters() {
        assert_eq!(f64_from_u64(1 << 53), 9_007_199_254_740_992.0);
        assert_eq!(f64_from_usize(600), 600.0);
        assert_eq!(f64_from_i64(-1500), -1500.0);
        assert_eq!(u64_from_f64(-3.0), 0);
        assert_eq!(u64_from_f64(f64::NAN), 0);
        assert_eq!(u64_from_f64(1e30), u64::MAX);
        assert_eq!(u64_from_f64(2.9), 2);
        assert_eq!(usize_from_f64(599.99), 599);
        assert_eq!(i64_from_f64(-2.5), -2);
        assert_eq!(u16_from_f64(70_000.0), u16::MAX);
    }
}
