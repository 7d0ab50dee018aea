//! The storage threads: where [`super::Store::run`] runs its blocking database work.
//!
//! At most as many threads as the pool has connections, started when first needed and kept
//! (a few kilobytes of stack each). A job goes to the thread that went idle last — its stack,
//! and the connection r2d2 hands back last, are still in the CPU's caches — or waits in a
//! queue while every thread is busy. tokio's blocking pool, used before, starts a thread for
//! every job that finds none idle (up to 512, each then waiting for one of the pool's
//! connections) and wakes the thread idle the longest, so a burst of requests left dozens of
//! threads taking turns, each cold (docs/BENCHMARKS.md, change 27).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Called with `true` to run, with `false` when it waited too long in the queue; returns what
/// hands the outcome to the caller.
type Job = Box<dyn FnOnce(bool) -> Deliver + Send>;

/// Hands a job's outcome to its caller.
type Deliver = Box<dyn FnOnce() + Send>;

/// Where an idle thread waits for the job handed to it.
#[derive(Default)]
struct Slot {
    job: Mutex<Option<Job>>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    /// Jobs waiting for a thread, with the time each was queued.
    queue: VecDeque<(Instant, Job)>,
    /// Idle threads, the one idle the shortest last.
    idle: Vec<Arc<Slot>>,
    threads: usize,
}

struct Shared {
    state: Mutex<State>,
    max_threads: usize,
    /// How long a job may wait in the queue before it fails instead of running.
    max_wait: Duration,
    stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs run outside these locks and are caught when they panic, so a poisoned lock still
    // holds consistent state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The storage threads of one store (and of its unsynced view). Dropping it lets the threads
/// finish the queued jobs and exit.
pub(super) struct Executor {
    shared: Arc<Shared>,
}

/// Why a job gave no result.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lost {
    /// Every thread stayed busy for longer than the executor's `max_wait`: the job never ran.
    Expired,
    /// The job panicked, or no thread could be started to run it.
    Failed,
}

impl Executor {
    /// At most `max_threads` threads; a job still queued after `max_wait` fails with
    /// [`Lost::Expired`] (a database that stopped answering, or far more load than the pool
    /// serves, gets an error in bounded time rather than an ever longer queue).
    pub(super) fn new(max_threads: usize, max_wait: Duration) -> Executor {
        Executor {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                max_threads: max_threads.max(1),
                max_wait,
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// Runs `f` on a storage thread: its result, or why there is none.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Lost> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move |run| -> Deliver {
            let outcome = if !run {
                Err(Lost::Expired)
            } else {
                std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| Lost::Failed)
            };
            Box::new(move || {
                let _ = tx.send(outcome);
            })
        }));
        rx.await.unwrap_or(Err(Lost::Failed))
    }

    /// Hands `job` to the thread idle the shortest, or queues it (starting a thread if there
    /// are fewer than the maximum). A job that cannot run is dropped, which its caller sees.
    fn submit(&self, job: Job) {
        let mut state = lock(&self.shared.state);
        if let Some(slot) = state.idle.pop() {
            drop(state);
            *lock(&slot.job) = Some(job);
            slot.ready.notify_one();
            return;
        }
        state.queue.push_back((Instant::now(), job));
        if state.threads < self.shared.max_threads {
            let shared = self.shared.clone();
            let started = std::thread::Builder::new()
                .name("tessera-storage".into())
                .stack_size(512 * 1024)
                .spawn(move || work(&shared));
            match started {
                Ok(_) => state.threads += 1,
                Err(e) => {
                    tracing::error!("cannot start a storage thread: {e}");
                    if state.threads == 0 {
                        // No thread will ever take them.
                        state.queue.clear();
                    }
                }
            }
        }
    }

    #[cfg(test)]
    fn threads(&self) -> usize {
        lock(&self.shared.state).threads
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let idle = std::mem::take(&mut lock(&self.shared.state).idle);
        for slot in idle {
            // Under the slot's lock, so that a thread between its check and its wait sees the
            // flag or gets the notification.
            let _guard = lock(&slot.job);
            slot.ready.notify_one();
        }
    }
}

/// A storage thread: runs queued jobs and jobs handed to it until the executor is dropped and
/// nothing is queued.
fn work(shared: &Shared) {
    let slot = Arc::new(Slot::default());
    // The outcome of the job just run, handed over once this thread is idle again or has taken
    // its next job: a caller whose next call follows the outcome finds this thread idle, rather
    // than starting another because this one had not got back yet.
    let mut finished: Option<Deliver> = None;
    loop {
        // The state's lock is released before a job runs or the thread waits.
        let queued = {
            let mut state = lock(&shared.state);
            match state.queue.pop_front() {
                Some(queued) => Some(queued),
                None if shared.stopping.load(Ordering::SeqCst) => {
                    state.threads -= 1;
                    drop(state);
                    if let Some(deliver) = finished {
                        deliver();
                    }
                    return;
                }
                None => {
                    state.idle.push(slot.clone());
                    None
                }
            }
        };
        if let Some(deliver) = finished.take() {
            deliver();
        }
        let job = match queued {
            Some((since, job)) if since.elapsed() > shared.max_wait => {
                finished = Some(job(false));
                continue;
            }
            Some((_, job)) => job,
            None => {
                let mut handed = lock(&slot.job);
                loop {
                    if let Some(job) = handed.take() {
                        break job;
                    }
                    if shared.stopping.load(Ordering::SeqCst) {
                        drop(handed);
                        lock(&shared.state).threads -= 1;
                        return;
                    }
                    handed = slot
                        .ready
                        .wait(handed)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        };
        finished = Some(job(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn runs_jobs_on_at_most_max_threads() {
        let executor = Arc::new(Executor::new(3, WAIT));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40usize {
            let (executor, running, most) = (executor.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                executor
                    .run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i * 2
                    })
                    .await
                    .unwrap()
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i * 2);
        }
        assert_eq!(executor.threads(), 3);
        assert!(most.load(Ordering::SeqCst) <= 3);
        // Every job ran: a queued job is not forgotten when the threads go idle.
        assert_eq!(executor.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn jobs_run_side_by_side() {
        // Each job waits until all three run at once: they can only if none holds a lock (or
        // the thread) the others need.
        let executor = Arc::new(Executor::new(3, WAIT));
        let arrived = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (executor, arrived) = (executor.clone(), arrived.clone());
            tasks.push(tokio::spawn(async move {
                executor
                    .run(move || {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        let deadline = Instant::now() + Duration::from_secs(5);
                        while arrived.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        arrived.load(Ordering::SeqCst)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(3));
        }
    }

    #[tokio::test]
    async fn one_job_at_a_time_reuses_the_last_idle_thread() {
        let executor = Executor::new(4, WAIT);
        let mut names = std::collections::HashSet::new();
        for _ in 0..20 {
            let id = executor.run(|| std::thread::current().id()).await.unwrap();
            names.insert(id);
        }
        assert_eq!(names.len(), 1);
        assert_eq!(executor.threads(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_is_lost_and_the_thread_goes_on() {
        let executor = Executor::new(1, WAIT);
        let lost = executor.run(|| -> u32 { panic!("job panics") }).await;
        assert_eq!(lost, Err(Lost::Failed));
        assert_eq!(executor.run(|| 5).await.unwrap(), 5);
        assert_eq!(executor.threads(), 1);
    }

    #[tokio::test]
    async fn a_job_queued_too_long_fails_without_running() {
        let executor = Arc::new(Executor::new(1, Duration::from_millis(50)));
        let ran = Arc::new(AtomicBool::new(false));
        let busy = {
            let executor = executor.clone();
            tokio::spawn(async move {
                executor
                    .run(|| std::thread::sleep(Duration::from_millis(300)))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = ran.clone();
        let waited = executor.run(move || r.store(true, Ordering::SeqCst)).await;
        assert_eq!(waited, Err(Lost::Expired));
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(busy.await.unwrap(), Ok(()));
        // The thread goes on with later jobs.
        assert_eq!(executor.run(|| 3).await, Ok(3));
    }

    #[tokio::test]
    async fn dropping_the_executor_stops_its_threads() {
        let executor = Executor::new(2, WAIT);
        let shared = executor.shared.clone();
        executor.run(|| ()).await.unwrap();
        assert_eq!(lock(&shared.state).threads, 1);
        drop(executor);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // The idle thread wakes up and exits.
        while Arc::strong_count(&shared) > 1 {
            assert!(std::time::Instant::now() < deadline, "thread still running");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
