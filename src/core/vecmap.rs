//! A map kept as a sorted `Vec`: for the few keys a client, a flight table
//! or a configuration holds (connections, refreshes in flight, providers).
//! Lookups are a binary search, iteration is in key order (so nothing needs
//! sorting afterwards), and it costs the wasm far less code than a hash
//! table and a sort (hashbrown was 6 KB of the browser build, each sort's
//! instance 2-3 KB of the server's).

use std::borrow::Borrow;
use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// The value whose key `order` finds equal: `order(k)` says how `k`
    /// compares with the key sought (so a caller need not build one).
    pub fn get_by(&self, mut order: impl FnMut(&K) -> Ordering) -> Option<&V> {
        let i = self.0.binary_search_by(|(k, _)| order(k)).ok()?;
        Some(&self.0[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    /// The value of `key`, inserted by `make` when absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, make()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Sets `key` to `value`, replacing what it had.
    pub fn insert(&mut self, key: K, value: V) {
        match self.find(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The entries, in key order.
    pub fn into_vec(self) -> Vec<(K, V)> {
        self.0
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_keys_sorted_and_one_value_each() {
        let mut m: VecMap<String, u32> = VecMap::default();
        for (k, v) in [("b", 1), ("a", 2), ("c", 3), ("b", 4)] {
            *m.get_or_insert_with(k.to_string(), || 0) += v;
        }
        assert_eq!(
            m.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
            [("a", 2), ("b", 5), ("c", 3)]
        );
        assert_eq!(m.get("b"), Some(&5));
        assert_eq!(m.get("z"), None);
        *m.get_mut("c").unwrap() = 9;
        m.insert("d".into(), 1);
        m.insert("d".into(), 7);
        assert!(m.contains_key("d") && !m.contains_key("e"));
        assert_eq!(m.remove("d"), Some(7));
        assert_eq!(m.remove("a"), Some(2));
        assert_eq!(m.remove("a"), None);
        for v in m.values_mut() {
            *v += 1;
        }
        assert_eq!(
            m.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
            [("b", 6), ("c", 10)]
        );
        assert_eq!((m.len(), m.is_empty()), (2, false));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(
            m.clone().into_vec(),
            [("b".to_string(), 6), ("c".to_string(), 10)]
        );
        assert_eq!(m.get_by(|k| k.as_str().cmp("c")), Some(&10));
        assert_eq!(m.get_by(|k| k.as_str().cmp("bb")), None);
        m.clear();
        assert!(m.is_empty());
    }
}
