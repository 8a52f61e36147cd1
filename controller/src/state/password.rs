//! What makes a password acceptable: at least [`MIN_LENGTH`] characters, not one of the
//! passwords every guessing list starts with (or one of them padded with digits or
//! repeated), not made of a handful of characters or a keyboard run, and not the account's
//! own name or the product's.

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;

/// Words and passwords at the top of every leaked-password list (lower case), from the
/// common English and Chinese (pinyin) lists. A password that is one of these, or one of
/// these with digits or punctuation around it, or one repeated, is refused.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "qwerty",
    "qwertyuiop",
    "asdfgh",
    "asdfghjkl",
    "zxcvbnm",
    "azerty",
    "iloveyou",
    "woaini",
    "woaini1314",
    "aini1314",
    "admin",
    "administrator",
    "root",
    "welcome",
    "letmein",
    "monkey",
    "dragon",
    "master",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "shadow",
    "superman",
    "michael",
    "abc123",
    "abcdef",
    "abcdefgh",
    "abcdefghijkl",
    "qazwsx",
    "qazwsxedc",
    "1qaz2wsx",
    "zaq12wsx",
    "trustno1",
    "changeme",
    "default",
    "secret",
    "test",
    "guest",
    "user",
    "login",
    "hello",
    "hellokitty",
    "computer",
    "internet",
    "china",
    "zhongguo",
    "beijing",
    "shanghai",
    "wangyi",
    "baidu",
    "tencent",
    "huawei",
    "xiaomi",
    "dalaba",
    "broadcast",
    "speaker",
    "loudspeaker",
    "emergency",
    "yingji",
    "guangbo",
    "laba",
];

/// Keyboard and alphabet runs (a password inside one of these is refused).
const RUNS: &[&str] = &[
    "01234567890123456789",
    "98765432109876543210",
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn",
    "qazwsxedcrfvtgbyhnujmikolp",
];

/// Why `password` is not acceptable for the account `name`, in words for the person
/// choosing it; `None` if it is.
pub fn problem(password: &str, name: &str) -> Option<String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Some(format!(
            "password: at least {MIN_LENGTH} characters (this one has {length}); a few words \
             in a row are easy to remember"
        ));
    }
    let lower = password.to_lowercase();
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return Some(
            "password: uses fewer than 5 different characters; guessing lists try these first"
                .into(),
        );
    }
    if RUNS.iter().any(|run| run.contains(&lower)) {
        return Some("password: a run of keys or letters (like 123456… or qwerty…)".into());
    }
    // The core: without digits, punctuation and spaces around it.
    let core = lower.trim_matches(|c: char| !c.is_alphabetic()).to_owned();
    let is_repeat_of = |word: &str| {
        !word.is_empty()
            && core.len() % word.len() == 0
            && core
                .as_bytes()
                .chunks(word.len())
                .all(|c| c == word.as_bytes())
    };
    let letters: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if COMMON.iter().any(|w| is_repeat_of(w) || letters == *w) {
        return Some(
            "password: one of the most common passwords (or one with digits added); choose \
             something nobody else would"
                .into(),
        );
    }
    let name = name.to_lowercase();
    if name.chars().count() >= 3 && lower.contains(&name) {
        return Some("password: must not contain the user name".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in [
            "short",
            "aaaaaaaaaaaa",
            "121212121212",
            "abababababab",
            "123456789012",
            "qwertyuiopas",
            "Password1234",
            "password!2026",
            "passwordpassword",
            "woaini1314520",
            "Administrator1",
            "dalaba123456",
            "li-wei-li-wei-secret",
        ] {
            let why = problem(weak, "li-wei");
            assert!(why.is_some(), "{weak} was accepted");
            assert!(why.unwrap().starts_with("password: "));
        }
    }

    #[test]
    fn ordinary_good_passwords_pass() {
        for good in [
            "correct horse battery",
            "loadtest password 1",
            "东村广播站2026年春耕",
            "Tq7#mZp2!vLr",
        ] {
            assert_eq!(problem(good, "li-wei"), None, "{good}");
        }
    }
}
