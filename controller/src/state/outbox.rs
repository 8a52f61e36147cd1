//! One agent's queue of outgoing messages: bounded, filled by the hub and a live call's
//! relay without waiting, emptied by the agent's connection task.
//!
//! A plain `VecDeque` behind a mutex nobody holds for more than a push or a pop, and one
//! waker: cheaper per message than `tokio::sync::mpsc` (no semaphore, no block list; a
//! group of frames queued back to back wakes the task once: the first push takes the
//! waker), and smaller while idle (an empty queue keeps at most [`KEEP`] slots; the
//! channel kept two blocks of 32, 2.6 KB an agent at 300 agents, heap profile in
//! BENCHMARKS.md).
//!
//! Two lanes: control messages (commands, `goodbye`, a close) go out before any audio
//! frame waiting, and each lane has its own bound. An alert to a speaker on a slow link,
//! whose queue is full of a live call's frames, is queued all the same and written next,
//! not dropped or held seconds behind audio it is about to cut in on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use super::hub::Outgoing;

/// Slots an emptied queue keeps; a burst beyond it (a slow agent's backlog) is given back.
pub const KEEP: usize = 8;

/// What is queued, by lane.
#[derive(Debug, Default)]
struct Lanes {
    control: VecDeque<Outgoing>,
    audio: VecDeque<Outgoing>,
}

/// The next message of `lane`; an emptied lane gives back a burst beyond [`KEEP`].
fn pop(lane: &mut VecDeque<Outgoing>) -> Option<Outgoing> {
    let next = lane.pop_front()?;
    if lane.is_empty() && lane.capacity() > KEEP {
        lane.shrink_to(KEEP);
    }
    Some(next)
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Lanes>,
    waker: AtomicWaker,
    /// The receiving end is gone: nothing more is queued.
    closed: AtomicBool,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Lanes> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The message's lane holds `capacity` messages already.
    Full,
    /// The connection is gone.
    Closed,
}

/// The sending side; clones share the queue.
#[derive(Debug, Clone)]
pub struct Sender {
    shared: Arc<Shared>,
    capacity: usize,
}

/// The receiving side, the connection task's.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
}

/// A queue of at most `capacity` control messages and `capacity` audio frames.
pub fn queue(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared::default());
    (
        Sender {
            shared: shared.clone(),
            capacity,
        },
        Receiver { shared },
    )
}

impl Sender {
    /// Queues `message` without waiting, in its lane, and wakes the receiver.
    pub fn try_send(&self, message: Outgoing) -> Result<(), Refused> {
        {
            let mut queue = self.shared.queue();
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(Refused::Closed);
            }
            let lane = match message {
                Outgoing::Binary(_) => &mut queue.audio,
                Outgoing::Text(_) | Outgoing::Close(..) => &mut queue.control,
            };
            if lane.len() >= self.capacity {
                return Err(Refused::Full);
            }
            lane.push_back(message);
        }
        self.shared.waker.wake();
        Ok(())
    }
}

impl Sender {
    /// Queues a group of audio `frames` in order, as many as there is room for (the rest
    /// are dropped), under one lock and with one wake-up: how many were queued.
    pub fn try_send_audio(&self, frames: &[bytes::Bytes]) -> Result<usize, Refused> {
        let queued = {
            let mut queue = self.shared.queue();
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(Refused::Closed);
            }
            let room = self.capacity.saturating_sub(queue.audio.len());
            let queued = frames.len().min(room);
            queue
                .audio
                .extend(frames[..queued].iter().cloned().map(Outgoing::Binary));
            queued
        };
        if queued > 0 {
            self.shared.waker.wake();
        }
        Ok(queued)
    }
}

impl Receiver {
    /// The next message, if one is queued: control before audio.
    pub fn try_recv(&mut self) -> Option<Outgoing> {
        let mut queue = self.shared.queue();
        pop(&mut queue.control).or_else(|| pop(&mut queue.audio))
    }

    /// Waits for the next message.
    pub async fn recv(&mut self) -> Outgoing {
        std::future::poll_fn(|cx| {
            if let Some(next) = self.try_recv() {
                return Poll::Ready(next);
            }
            self.shared.waker.register(cx.waker());
            // A message queued between the first look and the registration woke nobody.
            self.try_recv().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut queue = self.shared.queue();
        self.shared.closed.store(true, Ordering::Release);
        *queue = Lanes::default();
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Wake, Waker};

    use super::*;

    fn text(t: &str) -> Outgoing {
        Outgoing::Text(t.into())
    }

    fn is(m: Option<Outgoing>, t: &str) -> bool {
        matches!(m, Some(Outgoing::Text(s)) if s == t)
    }

    #[test]
    fn messages_come_out_in_order_up_to_the_capacity() {
        let (tx, mut rx) = queue(2);
        let other = tx.clone();
        assert_eq!(tx.try_send(text("1")), Ok(()));
        assert_eq!(other.try_send(text("2")), Ok(()));
        assert_eq!(tx.try_send(text("3")), Err(Refused::Full));
        assert!(is(rx.try_recv(), "1"));
        assert_eq!(other.try_send(text("4")), Ok(()));
        assert!(is(rx.try_recv(), "2"));
        assert!(is(rx.try_recv(), "4"));
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn nothing_is_queued_once_the_connection_is_gone() {
        let (tx, rx) = queue(4);
        assert_eq!(tx.try_send(text("1")), Ok(()));
        drop(rx);
        assert_eq!(tx.try_send(text("2")), Err(Refused::Closed));
        let freed = tx.shared.queue();
        assert!(
            freed.control.is_empty() && freed.audio.is_empty(),
            "what was queued is freed"
        );
    }

    /// A slow agent's backlog is given back once it has been written.
    #[test]
    fn an_emptied_queue_gives_back_a_burst() {
        let (tx, mut rx) = queue(256);
        for i in 0..200 {
            tx.try_send(text(&i.to_string())).expect("room");
        }
        while rx.try_recv().is_some() {}
        assert!(tx.shared.queue().control.capacity() <= KEEP);
    }

    fn frame() -> Outgoing {
        Outgoing::Binary(bytes::Bytes::from_static(b"frame"))
    }

    /// Commands are never held behind audio: a queue full of a live call's frames (a
    /// slow agent) still takes an alert, which goes out before them; commands keep their
    /// order among themselves and their own bound.
    #[test]
    fn a_command_goes_ahead_of_waiting_audio_and_is_not_crowded_out_by_it() {
        let (tx, mut rx) = queue(3);
        for _ in 0..3 {
            tx.try_send(frame()).expect("room");
        }
        assert_eq!(tx.try_send(frame()), Err(Refused::Full));
        for t in ["alert", "stop", "goodbye"] {
            assert_eq!(tx.try_send(text(t)), Ok(()), "{t}");
        }
        assert_eq!(tx.try_send(text("more")), Err(Refused::Full));
        assert!(is(rx.try_recv(), "alert"));
        assert!(is(rx.try_recv(), "stop"));
        assert!(is(rx.try_recv(), "goodbye"));
        for _ in 0..3 {
            assert!(matches!(rx.try_recv(), Some(Outgoing::Binary(_))));
        }
        assert!(rx.try_recv().is_none());
    }

    /// A group of frames is queued as far as there is room, behind the frames waiting and
    /// after any command, with one wake-up.
    #[test]
    fn a_group_of_frames_is_queued_as_far_as_there_is_room() {
        let (tx, mut rx) = queue(4);
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let mut next = Box::pin(rx.recv());
        assert!(
            next.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(next);
        let group = [b"1", b"2", b"3"].map(|b| bytes::Bytes::from_static(b));
        assert_eq!(tx.try_send_audio(&group), Ok(3));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "one wake-up for the group"
        );
        tx.try_send(text("alert")).expect("room");
        assert_eq!(tx.try_send_audio(&group), Ok(1), "room for one more");
        assert_eq!(tx.try_send_audio(&group), Ok(0));
        assert!(is(rx.try_recv(), "alert"));
        let audio: Vec<bytes::Bytes> = std::iter::from_fn(|| match rx.try_recv() {
            Some(Outgoing::Binary(b)) => Some(b),
            _ => None,
        })
        .collect();
        assert_eq!(audio, [&b"1"[..], b"2", b"3", b"1"]);
        drop(rx);
        assert_eq!(tx.try_send_audio(&group), Err(Refused::Closed));
    }

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waiting receiver is woken by a send, once for a group sent back to back, and
    /// finds the whole group.
    #[test]
    fn a_group_sent_back_to_back_wakes_the_receiver_once() {
        let (tx, mut rx) = queue(16);
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut next = Box::pin(rx.recv());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        for t in ["a", "b", "c"] {
            tx.try_send(text(t)).expect("room");
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(next.as_mut().poll(&mut cx), Poll::Ready(Outgoing::Text(t)) if t == "a"));
        drop(next);
        assert!(is(rx.try_recv(), "b") && is(rx.try_recv(), "c"));
    }
}
