//! Ordering of definition versions (node versions): the supervisor and the SDKs must agree on
//! which version is the newest, so both use this.

use std::cmp::Ordering;

/// Orders versions like semver's precedence for `MAJOR.MINOR.PATCH[-pre][+build]`; missing
/// parts count as 0 and parts that are not numbers compare as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (Vec<&str>, Option<&str>) {
        let v = v.split('+').next().unwrap_or(v);
        match v.split_once('-') {
            Some((core, pre)) => (core.split('.').collect(), Some(pre)),
            None => (v.split('.').collect(), None),
        }
    }
    fn part(a: &str, b: &str) -> Ordering {
        match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        }
    }
    let (core_a, pre_a) = split(a);
    let (core_b, pre_b) = split(b);
    for i in 0..core_a.len().max(core_b.len()) {
        let ord = part(
            core_a.get(i).copied().unwrap_or("0"),
            core_b.get(i).copied().unwrap_or("0"),
        );
        if ord.is_ne() {
            return ord;
        }
    }
    match (pre_a, pre_b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        assert_eq!(compare_versions("1.10.0", "1.9.0"), Ordering::Greater);
        assert_eq!(compare_versions("2.0.0-beta", "2.0.0"), Ordering::Less);
        assert_eq!(compare_versions("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("", "0.0.1"), Ordering::Less);
        assert_eq!(compare_versions("1.0.0+build.7", "1.0.0"), Ordering::Equal);
    }
}
