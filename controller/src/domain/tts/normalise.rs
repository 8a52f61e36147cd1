//! Chinese announcement text as an announcer reads it, before synthesis: dates, times,
//! percentages, numbers and phone numbers in words, the lexicon's replacements first, and
//! punctuation a voice pauses at. Pure functions of text.

/// Bumped whenever the readings change: part of the speech cache's key.
pub const VERSION: u32 = 1;

const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// Digit by digit: `2026` → 二零二六 (years, codes, decimals).
fn digit_by_digit(digits: &str) -> String {
    digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| DIGITS[d as usize])
        .collect()
}

/// A phone number as it is read out: digit by digit, one as 幺 (`12379` → 幺二三七九).
fn phone(digits: &str) -> String {
    digit_by_digit(digits).replace('一', "幺")
}

/// Words after which a number is a phone number.
const PHONE_WORDS: [&str; 7] = ["拨打", "电话", "热线", "专线", "号码", "致电", "拨"];

/// A whole number below 10^12 in words: 2026 → 二千零二十六, 10 → 十, 105 → 一百零五.
fn number(n: u64) -> String {
    if n == 0 {
        return "零".into();
    }
    fn below_10000(n: u64, leading: bool) -> String {
        let units = ["千", "百", "十", ""];
        let digits = [n / 1000, n / 100 % 10, n / 10 % 10, n % 10];
        let mut out = String::new();
        let mut zero = false;
        let mut started = false;
        for (d, unit) in digits.iter().zip(units) {
            if *d == 0 {
                zero = started;
                continue;
            }
            if zero {
                out.push('零');
                zero = false;
            }
            // 10 to 19 at the start: 十二, not 一十二.
            if !(leading && !started && *d == 1 && unit == "十") {
                out.push(DIGITS[*d as usize]);
            }
            out.push_str(unit);
            started = true;
        }
        out
    }
    let groups = [
        (n / 100_000_000, "亿"),
        (n / 10_000 % 10_000, "万"),
        (n % 10_000, ""),
    ];
    let mut out = String::new();
    let mut pending_zero = false;
    for (g, unit) in groups {
        if g == 0 {
            pending_zero = !out.is_empty();
            continue;
        }
        if !out.is_empty() && (pending_zero || g < 1000) {
            out.push('零');
        }
        out.push_str(&below_10000(g, out.is_empty()));
        out.push_str(unit);
        pending_zero = false;
    }
    out
}

/// Reads `text` for synthesis: `lexicon` replacements (longest first), then numbers,
/// dates, times and percentages in words, then pauses.
pub fn normalise(text: &str, lexicon: &[(String, String)]) -> String {
    let mut text = text.to_owned();
    let mut entries: Vec<&(String, String)> = lexicon.iter().collect();
    entries.sort_by_key(|(from, _)| std::cmp::Reverse(from.chars().count()));
    for (from, to) in entries {
        if !from.is_empty() {
            text = text.replace(from.as_str(), to);
        }
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !c.is_ascii_digit() {
            out.push(match c {
                // Pauses the voice makes: a colon or a semicolon reads as a comma.
                '：' | ':' | '；' | ';' => '，',
                '～' | '~' => '至',
                other => other,
            });
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let digits: String = chars[start..i].iter().collect();
        let next = chars.get(i).copied();
        // 18:30 → 十八点三十分; 8:05 → 八点零五分.
        if matches!(next, Some(':') | Some('：'))
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            && digits.len() <= 2
        {
            let m_start = i + 1;
            let mut j = m_start;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let minutes: String = chars[m_start..j].iter().collect();
            if minutes.len() == 2 {
                let h: u64 = digits.parse().unwrap_or(0);
                let m: u64 = minutes.parse().unwrap_or(0);
                if h < 24 && m < 60 {
                    out.push_str(&number(h));
                    out.push('点');
                    match m {
                        0 => out.push('整'),
                        1..=9 => {
                            out.push('零');
                            out.push_str(&number(m));
                            out.push('分');
                        }
                        _ => {
                            out.push_str(&number(m));
                            out.push('分');
                        }
                    }
                    i = j;
                    continue;
                }
            }
        }
        // A decimal: 3.5 → 三点五.
        let mut fraction = String::new();
        if next == Some('.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_ascii_digit() {
                fraction.push(chars[j]);
                j += 1;
            }
            i = j;
        }
        let after = chars.get(i).copied();
        let spoken = if !fraction.is_empty() {
            format!(
                "{}点{}",
                number(digits.parse().unwrap_or(0)),
                digit_by_digit(&fraction)
            )
        } else if PHONE_WORDS.iter().any(|w| out.ends_with(w)) || digits.len() >= 7 {
            phone(&digits)
        } else if after == Some('年') || (digits.len() > 1 && digits.starts_with('0')) {
            // Years and codes: digit by digit (2026年 → 二零二六年).
            digit_by_digit(&digits)
        } else {
            number(digits.parse().unwrap_or(0))
        };
        if matches!(after, Some('%') | Some('％')) {
            out.push_str("百分之");
            out.push_str(&spoken);
            i += 1;
        } else {
            out.push_str(&spoken);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_an_announcer_reads_them() {
        for (n, words) in [
            (0, "零"),
            (7, "七"),
            (10, "十"),
            (12, "十二"),
            (20, "二十"),
            (105, "一百零五"),
            (110, "一百一十"),
            (1000, "一千"),
            (1009, "一千零九"),
            (2026, "二千零二十六"),
            (10_000, "一万"),
            (10_500, "一万零五百"),
            (120_000, "十二万"),
            (1_000_001, "一百万零一"),
        ] {
            assert_eq!(number(n), words, "{n}");
        }
    }

    #[test]
    fn a_table_of_announcements() {
        let lexicon = vec![("长沙".to_owned(), "常沙".to_owned())];
        for (text, read) in [
            ("2026年12月1日", "二零二六年十二月一日"),
            ("今晚18:30开会", "今晚十八点三十分开会"),
            ("8:05出发", "八点零五分出发"),
            ("7:00集合", "七点整集合"),
            ("降雨概率85%", "降雨概率百分之八十五"),
            ("反诈专线12379", "反诈专线幺二三七九"),
            ("拨打110报警", "拨打幺幺零报警"),
            ("电话13800138000", "电话幺三八零零幺三八零零零"),
            ("转移12000人", "转移一万二千人"),
            ("水位上涨3.5米", "水位上涨三点五米"),
            ("注意：山洪", "注意，山洪"),
            ("去长沙", "去常沙"),
            ("编号007", "编号零零七"),
        ] {
            assert_eq!(normalise(text, &lexicon), read, "{text}");
        }
    }
}
