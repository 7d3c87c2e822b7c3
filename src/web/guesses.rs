//! Wrong tokens, counted per client address: the console's login, the API's bearer
//! token and the push receivers' tokens all answer a wrong guess after a pause, and an
//! address that guessed wrong [`MAX_WRONG`] times within [`WINDOW`] is answered 429
//! (without looking at its token) until the window has passed. Guessing a token then
//! takes years, and one address cannot lock out another.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tokens one address may send within [`WINDOW`].
pub const MAX_WRONG: u32 = 10;
/// How long wrong tokens are remembered.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long the answer to a wrong token waits.
pub const PAUSE: Duration = Duration::from_secs(1);
/// Addresses remembered at most; beyond, the oldest windows are forgotten first.
const REMEMBERED: usize = 10_000;

/// Who sent a request, as far as limits go: an IPv4 address, or the /64 network of an
/// IPv6 one (a single client usually holds a whole /64).
pub fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// Wrong guesses per client, each with when its window started.
#[derive(Default)]
pub struct Guesses(Mutex<HashMap<IpAddr, (Instant, u32)>>);

impl Guesses {
    /// How long `peer` must wait before its token is looked at again, when it has
    /// guessed wrong too often.
    pub fn blocked(&self, peer: IpAddr) -> Option<Duration> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (start, wrong) = map.get(&client(peer))?;
        let left = WINDOW.checked_sub(start.elapsed())?;
        (*wrong >= MAX_WRONG).then_some(left)
    }

    /// Counts a wrong token from `peer`.
    pub fn wrong(&self, peer: IpAddr) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() >= REMEMBERED {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if map.len() >= REMEMBERED {
                // Every window still open: the oldest tenth goes.
                let mut starts: Vec<Instant> = map.values().map(|v| v.0).collect();
                starts.sort();
                let cut = starts[REMEMBERED / 10];
                map.retain(|_, (start, _)| *start > cut);
            }
        }
        let entry = map.entry(client(peer)).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_too_many_wrong_tokens_and_others_are_not() {
        let g = Guesses::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_WRONG - 1 {
            g.wrong(a);
        }
        assert_eq!(g.blocked(a), None);
        g.wrong(a);
        assert!(g.blocked(a).is_some_and(|d| d <= WINDOW));
        assert_eq!(g.blocked(b), None);
    }

    #[test]
    fn an_ipv6_client_is_its_64_network() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(client(one), client(other));
        assert_ne!(client(one), client("2001:db8:1:3::1".parse().unwrap()));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
