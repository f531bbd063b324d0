//! One refresh in flight per key inside one instance. The first caller leads;
//! the others wait for its result. If the leader is dropped mid-way its
//! waiters see the channel close and try again themselves, so nothing hangs.

use std::cell::RefCell;

use futures_channel::oneshot;

use super::vecmap::VecMap;

pub struct SingleFlight<K, V> {
    waiters: RefCell<VecMap<K, Vec<oneshot::Sender<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            waiters: RefCell::new(VecMap::default()),
        }
    }
}

pub enum Role<'a, K: Ord + Clone, V: Clone> {
    Leader(Leader<'a, K, V>),
    /// Resolves to the leader's result, or `Canceled` if the leader was dropped.
    Follower(oneshot::Receiver<V>),
}

pub struct Leader<'a, K: Ord + Clone, V: Clone> {
    flight: &'a SingleFlight<K, V>,
    key: K,
}

impl<K: Ord + Clone, V: Clone> SingleFlight<K, V> {
    pub fn join(&self, key: K) -> Role<'_, K, V> {
        let mut map = self.waiters.borrow_mut();
        if let Some(list) = map.get_mut(&key) {
            let (tx, rx) = oneshot::channel();
            list.push(tx);
            Role::Follower(rx)
        } else {
            map.get_or_insert_with(key.clone(), Vec::new);
            Role::Leader(Leader { flight: self, key })
        }
    }

    pub fn in_flight(&self) -> usize {
        self.waiters.borrow().len()
    }
}

impl<K: Ord + Clone, V: Clone> Leader<'_, K, V> {
    /// Hands the result to every follower and ends the flight.
    pub fn finish(self, value: &V) {
        let list = self
            .flight
            .waiters
            .borrow_mut()
            .remove(&self.key)
            .unwrap_or_default();
        for tx in list {
            let _ = tx.send(value.clone());
        }
        std::mem::forget(self);
    }
}

impl<K: Ord + Clone, V: Clone> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        // Dropping the senders wakes followers with Canceled.
        self.flight.waiters.borrow_mut().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_executor::block_on;

    #[test]
    fn followers_get_the_leaders_value() {
        let f: SingleFlight<&str, u32> = SingleFlight::default();
        let Role::Leader(lead) = f.join("k") else {
            panic!("first caller leads")
        };
        let Role::Follower(a) = f.join("k") else {
            panic!()
        };
        let Role::Follower(b) = f.join("k") else {
            panic!()
        };
        assert!(matches!(f.join("other"), Role::Leader(_)));
        lead.finish(&7);
        assert_eq!(block_on(a), Ok(7));
        assert_eq!(block_on(b), Ok(7));
        assert_eq!(f.in_flight(), 0);
        assert!(matches!(f.join("k"), Role::Leader(_)));
    }

    #[test]
    fn dropped_leader_releases_followers() {
        let f: SingleFlight<&str, u32> = SingleFlight::default();
        let lead = f.join("k");
        let Role::Follower(rx) = f.join("k") else {
            panic!()
        };
        drop(lead);
        assert!(block_on(rx).is_err());
        assert_eq!(f.in_flight(), 0);
    }
}
