//! Numbers as a scoreboard prints them.

/// A rate with two decimals, or a dash when there is none yet.
pub(crate) fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

/// A metric for the pipeline page: thousands separated, or a dash when unknown.
pub(crate) fn count(value: Option<f64>) -> String {
    let Some(value) = value else {
        return "–".to_owned();
    };
    let whole = value.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if whole < 0 {
        out.insert(0, '-');
    }
    out
}

/// Milliseconds, with one decimal below ten.
pub(crate) fn millis(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(v) if v < 10.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

/// A batting side, marked when it is a super over's.
pub(crate) fn team(team: &str, super_over: bool) -> String {
    if super_over {
        format!("{team} (super over)")
    } else {
        team.to_owned()
    }
}

/// An innings card's heading: "India (super over) 12/1 (1 ov)".
pub(crate) fn innings_heading(
    batting: &str,
    super_over: bool,
    runs: u32,
    wickets: u32,
    overs: impl std::fmt::Display,
) -> String {
    format!(
        "{} {runs}/{wickets} ({overs} ov)",
        team(batting, super_over)
    )
}

/// Overs from legal balls: "18.5".
pub(crate) fn overs(legal_balls: u32, balls_per_over: u8) -> String {
    cricket::scoreboard::Overs::from_balls(legal_balls, balls_per_over).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(Some(0.0)), "0");
        assert_eq!(count(Some(999.0)), "999");
        assert_eq!(count(Some(1_000.0)), "1,000");
        assert_eq!(count(Some(5_240_123.4)), "5,240,123");
        assert_eq!(count(Some(-1_234.0)), "-1,234");
        assert_eq!(count(None), "–");
    }

    #[test]
    fn rates_and_overs() {
        assert_eq!(rate(Some(7.256)), "7.26");
        assert_eq!(rate(None), "–");
        assert_eq!(overs(113, 6), "18.5");
        assert_eq!(overs(120, 6), "20");
        assert_eq!(millis(Some(7.26)), "7.3 ms");
        assert_eq!(millis(Some(236.4)), "236 ms");
    }
}
