//! Protocol versions and their negotiation.
//!
//! The agent lists every version it speaks in `hello`; the controller answers `welcome`
//! with the highest version both speak, or `error{code: "unsupported_version"}` listing its
//! own, and closes. A version changes only when a message's meaning changes; adding an
//! optional field or a new message type that old peers may ignore does not need one.

/// The version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// Every version this crate can speak, oldest first.
pub const SUPPORTED_VERSIONS: &[u16] = &[1];

/// The highest version in both `ours` and `theirs`, or `None` if they share none.
pub fn negotiate(ours: &[u16], theirs: &[u16]) -> Option<u16> {
    ours.iter().copied().filter(|v| theirs.contains(v)).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_highest_common() {
        assert_eq!(negotiate(&[1, 2, 3], &[2, 3, 4]), Some(3));
        assert_eq!(negotiate(&[3, 1], &[1, 3]), Some(3));
        assert_eq!(negotiate(&[1], &[2]), None);
        assert_eq!(negotiate(SUPPORTED_VERSIONS, &[]), None);
        assert_eq!(
            negotiate(SUPPORTED_VERSIONS, &[PROTOCOL_VERSION]),
            Some(PROTOCOL_VERSION)
        );
    }
}
