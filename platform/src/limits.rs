//! Per-client connection caps for long-lived connections (WebSockets).
//!
//! A socket costs its holder nothing and the server a file descriptor, buffers and a task, so
//! one host must not be able to take all of them. [`PerAddress`] counts open connections by
//! client address and refuses one more past the cap. IPv6 clients are counted by their /64:
//! one host is usually given a whole /64 and can pick a fresh address for every connection.
//! Entries exist only while a connection is open, so the table is as small as the number of
//! distinct clients connected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per client address, at most `max` each (0: no cap).
#[derive(Debug)]
pub struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct AddressPermit {
    limit: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    pub fn new(max: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A permit for one more connection from `address`, or `None` if it already holds `max`.
    pub fn try_acquire(self: &Arc<Self>, address: IpAddr) -> Option<AddressPermit> {
        let key = key_of(address);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if self.max != 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressPermit {
            limit: self.clone(),
            key,
        })
    }

    /// Connections currently open from `address` (as counted: IPv6 by /64).
    pub fn open(&self, address: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&key_of(address)).copied().unwrap_or(0)
    }

    /// Distinct client addresses with a connection open.
    pub fn clients(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for AddressPermit {
    fn drop(&mut self) {
        let mut open = self
            .limit
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// IPv4 (also when mapped into IPv6) as is; IPv6 by its /64 prefix.
fn key_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_at_most_max_and_a_closed_one_frees_its_slot() {
        let limit = PerAddress::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = limit.try_acquire(a).expect("first");
        let _second = limit.try_acquire(a).expect("second");
        assert!(limit.try_acquire(a).is_none(), "third refused");
        assert!(limit.try_acquire(b).is_some(), "others are unaffected");
        drop(first);
        assert!(
            limit.try_acquire(a).is_some(),
            "a closed connection frees its slot"
        );
    }

    #[test]
    fn the_table_holds_only_connected_clients() {
        let limit = PerAddress::new(1);
        let permits: Vec<_> = (0..100u8)
            .filter_map(|n| limit.try_acquire([10, 0, 1, n].into()))
            .collect();
        assert_eq!(limit.clients(), 100);
        drop(permits);
        assert_eq!(limit.clients(), 0);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let limit = PerAddress::new(1);
        let one: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let other_64: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let _held = limit.try_acquire(one).expect("first");
        assert!(limit.try_acquire(same_64).is_none());
        assert!(limit.try_acquire(other_64).is_some());
        let _v4 = limit.try_acquire([192, 0, 2, 1].into()).expect("v4");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert!(limit.try_acquire(mapped).is_none());
    }

    #[test]
    fn zero_means_no_cap() {
        let limit = PerAddress::new(0);
        let a: IpAddr = [10, 0, 0, 1].into();
        let permits: Vec<_> = (0..1000).filter_map(|_| limit.try_acquire(a)).collect();
        assert_eq!(permits.len(), 1000);
        assert_eq!(limit.open(a), 1000);
    }
}
