//! A `RefCell` with a generation that changes with every mutable borrow, so
//! an answer remembered at one generation (the JS entries' memo of the last
//! cached answer) is known to still be the answer while the generation is
//! unchanged: no change to the state can slip past it.

use std::cell::{Cell, Ref, RefCell, RefMut};

#[derive(Debug, Default)]
pub struct Tracked<T> {
    value: RefCell<T>,
    generation: Cell<u32>,
}

impl<T> Tracked<T> {
    pub fn new(value: T) -> Self {
        Tracked {
            value: RefCell::new(value),
            generation: Cell::new(0),
        }
    }

    pub fn borrow(&self) -> Ref<'_, T> {
        self.value.borrow()
    }

    /// The value to change: the generation moves first.
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        self.generation.set(self.generation.get().wrapping_add(1));
        self.value.borrow_mut()
    }

    pub fn generation(&self) -> u32 {
        self.generation.get()
    }
}

#[cfg(test)]
mod tests {
    use super::Tracked;

    #[test]
    fn every_mutable_borrow_moves_the_generation_and_reads_do_not() {
        let t = Tracked::new(vec![1]);
        let g = t.generation();
        assert_eq!(t.borrow().len(), 1);
        assert_eq!(t.generation(), g);
        t.borrow_mut().push(2);
        assert_ne!(t.generation(), g);
        let g = t.generation();
        drop(t.borrow_mut());
        assert_ne!(t.generation(), g, "even a borrow that changes nothing");
    }
}
