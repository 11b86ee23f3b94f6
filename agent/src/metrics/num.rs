//! Numbers as metrics carry them: counters and gauges are `u64`, averages,
//! rates and the Prometheus text are `f64`. The conversions are here, once,
//! with what they do at the edges.

/// A counter or gauge as a float: exact up to 2^53, the nearest float
/// above (a metric of 9 PB is fine to a few bytes).
#[allow(clippy::cast_precision_loss)] // the nearest float is what a metric needs
pub fn f64_of(v: u64) -> f64 {
    v as f64
}

/// A count (of samples, of streams) as a float; see [`f64_of`].
pub fn f64_of_count(n: usize) -> f64 {
    f64_of(u64::try_from(n).unwrap_or(u64::MAX))
}

/// An average of counters back as a counter: rounded toward zero, negative
/// and NaN values as 0, values past `u64::MAX` as `u64::MAX` (Rust's
/// float-to-integer cast saturates).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // saturating, as documented
pub fn u64_of(v: f64) -> u64 {
    v as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_saturate() {
        assert_eq!(f64_of(1 << 53), 9_007_199_254_740_992.0);
        assert_eq!(u64_of(-1.0), 0);
        assert_eq!(u64_of(f64::NAN), 0);
        assert_eq!(u64_of(1e30), u64::MAX);
        assert_eq!(u64_of(2.9), 2);
        assert_eq!(f64_of_count(3), 3.0);
    }
}
