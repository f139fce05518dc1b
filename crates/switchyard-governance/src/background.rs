//! Background threads (the spend writer, log-sink encoding) run at a lower CPU priority than
//! request workers.
//!
//! On a busy core the kernel shares time between runnable threads. A spend flush or a sink
//! batch is milliseconds of CPU; at the same priority, a request that arrives meanwhile can
//! wait for it, and p99 latency shows it. A higher nice value makes the scheduler hand the
//! core to a request worker as soon as one wakes, while background work still gets a fair
//! share when requests saturate the core (nice 5 weighs about a third of nice 0), so spend
//! writing keeps up. Threads a background thread starts (SQLite's connection threads)
//! inherit its nice value.
//!
//! `SWITCHYARD_BACKGROUND_NICE` sets the value (0 turns this off; default 5).

/// The nice value of background threads unless `SWITCHYARD_BACKGROUND_NICE` says otherwise.
pub const DEFAULT_NICE: i32 = 5;

/// Lowers the calling thread's CPU priority to the background nice value. Failures (a
/// platform without per-thread nice values, a sandbox that forbids it) are logged once per
/// thread at debug level and otherwise ignored: priority is a refinement, not a requirement.
pub fn lower_current_thread() {
    let nice = std::env::var("SWITCHYARD_BACKGROUND_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(DEFAULT_NICE)
        .clamp(0, 19);
    if nice == 0 {
        return;
    }
    set_nice(nice);
}

#[cfg(target_os = "linux")]
fn set_nice(nice: i32) {
    // On Linux a nice value belongs to a thread: setpriority on a thread id sets that thread's.
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::debug!(error = %e, nice, "could not lower a background thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn set_nice(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn lowers_only_the_calling_thread() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let inside = std::thread::spawn(|| {
            super::set_nice(7);
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(inside, 7.max(before));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
    }
}
