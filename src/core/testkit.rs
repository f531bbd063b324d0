//! Test doubles shared by the core's test suites: a virtual clock whose
//! sleeps are timers (time jumps only when nothing can run), deterministic
//! randomness, and recorded events.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::runtime::Runtime;
use super::store::RefreshEvent;

pub const T0: i64 = 1_795_000_000_000;

pub struct YieldNow(pub bool);
impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Virtual time: sleeps register timers; time jumps to the earliest timer
/// only when no task can run, so concurrent sleeps overlap as in real time.
#[derive(Clone)]
pub struct Rt {
    pub now: Rc<Cell<i64>>,
    timers: Rc<RefCell<Vec<(i64, Waker)>>>,
    pub sleeps: Rc<RefCell<Vec<u64>>>,
    /// Deterministic randomness: a splitmix64 stream.
    pub(crate) seq: Rc<Cell<u64>>,
    pub events: Rc<RefCell<Vec<RefreshEvent>>>,
}

pub struct Sleep {
    pub rt: Rt,
    pub until: i64,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.rt.now.get() >= self.until {
            Poll::Ready(())
        } else {
            self.rt
                .timers
                .borrow_mut()
                .push((self.until, cx.waker().clone()));
            Poll::Pending
        }
    }
}

struct Flag(AtomicBool);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Rt {
    pub fn new() -> Self {
        Rt {
            now: Rc::new(Cell::new(T0)),
            timers: Rc::default(),
            sleeps: Rc::default(),
            seq: Rc::default(),
            events: Rc::default(),
        }
    }
    pub fn advance(&self, ms: i64) {
        self.now.set(self.now.get() + ms);
    }
    /// Runs `f` to completion on virtual time.
    pub fn run<F: Future>(&self, f: F) -> F::Output {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            flag.0.store(false, Ordering::SeqCst);
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            if flag.0.load(Ordering::SeqCst) {
                continue;
            }
            let next = self
                .timers
                .borrow()
                .iter()
                .map(|(t, _)| *t)
                .min()
                .expect("deadlock: nothing runnable and no timer");
            self.now.set(self.now.get().max(next));
            let now = self.now.get();
            let due: Vec<Waker> = {
                let mut timers = self.timers.borrow_mut();
                let (due, rest): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(t, _)| *t <= now);
                *timers = rest;
                due.into_iter().map(|(_, w)| w).collect()
            };
            due.into_iter().for_each(Waker::wake);
        }
    }
}

impl Runtime for Rt {
    fn now_ms(&self) -> i64 {
        self.now.get()
    }
    async fn sleep_ms(&self, ms: u64) {
        self.sleeps.borrow_mut().push(ms);
        Sleep {
            rt: self.clone(),
            until: self.now.get() + ms as i64,
        }
        .await;
    }
    fn random_unit(&self) -> f64 {
        0.5
    }
    fn fill_random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = self.seq.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            self.seq.set(x);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
    fn emit(&self, event: &RefreshEvent) {
        self.events.borrow_mut().push(event.clone());
    }
}
