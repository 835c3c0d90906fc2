//! tokio peer for weft's benchmark suite.
//!
//! Usage: peer_tokio <workload>      run one workload, print BENCH lines
//!        peer_tokio --list          print the workload names this peer has
//!
//! The single-thread workloads run on a current-thread runtime (one worker
//! thread); the `mt_*` workloads (bench_mt's) on the multi-thread runtime with
//! 1 and 2 worker threads (impls `tokio-mt1`, `tokio-mt2`).
//! Output lines: `BENCH <workload> <impl> <value> <unit>` (value as %.6g).
//!
//! Environment, as for every bench program (tests/bench/bench.h):
//!   BENCH_COLD=1     no warm-up pass, the first pass is the timed one, and
//!                    every impl gets the suffix `-cold`. rss_per_sleeping_task
//!                    and idle_rss ignore it (measured once, no warm-up, anyway).
//!   BENCH_VARIANT=k  make only the k-th measurement of the workload (0-based);
//!   BENCH_VARIANT=list  print `VARIANT <workload> <impl>` per measurement
//!                    instead of measuring.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, Notify};
use tokio::time::Sleep;

const SPAWN_MANY_TASKS: usize = 1_000_000;
const YIELD_TASKS: usize = 1_000;
const YIELDS_PER_TASK: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000_000;
const PING_PONG_ROUNDS: usize = 1_000_000;
const TIMERS: usize = 1_000_000;
const TIMER_MAX_MS: u64 = 1_000;
const SLEEPING_TASKS: usize = 100_000;

/// C's printf("%.6g") for finite values, so every peer prints the same way.
fn fmt_g6(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{}", v);
    }
    // Rounding to 6 significant digits may bump the exponent; take it from
    // the rounded scientific form.
    let sci = format!("{:.5e}", v);
    let (mant, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    fn trim(s: &str) -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    }
    if exp < -4 || exp >= 6 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", trim(mant), sign, exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(&format!("{:.*}", decimals, v))
    }
}

/// BENCH_COLD=1: no warm-up, `-cold` on every impl.
fn cold() -> bool {
    std::env::var("BENCH_COLD").map(|v| v == "1").unwrap_or(false)
}

fn impl_name(imp: &str) -> String {
    if cold() {
        format!("{}-cold", imp)
    } else {
        imp.to_string()
    }
}

static VARIANT_NEXT: AtomicUsize = AtomicUsize::new(0);

/// Whether to make the next measurement (see BENCH_VARIANT above); called
/// once before each measurement, in order, also for those skipped.
fn variant(workload: &str, imp: &str) -> bool {
    let k = VARIANT_NEXT.fetch_add(1, Ordering::Relaxed);
    match std::env::var("BENCH_VARIANT") {
        Err(_) => true,
        Ok(v) if v.is_empty() => true,
        Ok(v) if v == "list" => {
            println!("VARIANT {} {}", workload, impl_name(imp));
            false
        }
        Ok(v) => match v.parse::<usize>() {
            Ok(want) => want == k,
            Err(_) => {
                eprintln!("peer_tokio: BENCH_VARIANT={}: want a number or \"list\"", v);
                std::process::exit(2);
            }
        },
    }
}

/// A result line; `-cold` is appended to the impl when cold.
fn report(workload: &str, imp: &str, value: f64, unit: &str) {
    report_raw(workload, &impl_name(imp), value, unit);
}

/// A result line of a workload that has no cold mode.
fn report_raw(workload: &str, imp: &str, value: f64, unit: &str) {
    println!("BENCH {} {} {} {}", workload, imp, fmt_g6(value), unit);
}

fn rt() -> Runtime {
    Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build current-thread runtime")
}

/// VmRSS of this process in bytes, from /proc/self/status.
fn vm_rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: u64 = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .expect("parse VmRSS");
            return kb * 1024;
        }
    }
    panic!("no VmRSS in /proc/self/status");
}

/// Small fixed-seed PRNG (xorshift64*), identical in every peer.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Shared countdown: the task that brings it to zero wakes the waiter.
struct Countdown {
    left: AtomicUsize,
    done: Notify,
}

impl Countdown {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Countdown {
            left: AtomicUsize::new(n),
            done: Notify::new(),
        })
    }
    fn hit(&self) {
        if self.left.fetch_sub(1, Ordering::Relaxed) == 1 {
            // notify_one stores a permit if nobody is waiting yet.
            self.done.notify_one();
        }
    }
}

// ---------------------------------------------------------------- spawn_many
fn spawn_many_once(rt: &Runtime) -> Duration {
    rt.block_on(async {
        let root = tokio::spawn(async {
            let cd = Countdown::new(SPAWN_MANY_TASKS);
            let t0 = Instant::now();
            for _ in 0..SPAWN_MANY_TASKS {
                let cd = cd.clone();
                tokio::spawn(async move {
                    cd.hit();
                });
            }
            cd.done.notified().await;
            t0.elapsed()
        });
        root.await.unwrap()
    })
}

fn spawn_many() {
    if !variant("spawn_many", "tokio") {
        return;
    }
    let rt = rt();
    if !cold() {
        spawn_many_once(&rt); // warm-up
    }
    let d = spawn_many_once(&rt);
    report(
        "spawn_many",
        "tokio",
        SPAWN_MANY_TASKS as f64 / d.as_secs_f64(),
        "tasks/s",
    );
}

// ---------------------------------------------------------------- yield_many
fn yield_many_once(rt: &Runtime) -> Duration {
    rt.block_on(async {
        let root = tokio::spawn(async {
            let cd = Countdown::new(YIELD_TASKS);
            let t0 = Instant::now();
            for _ in 0..YIELD_TASKS {
                let cd = cd.clone();
                tokio::spawn(async move {
                    for _ in 0..YIELDS_PER_TASK {
                        tokio::task::yield_now().await;
                    }
                    cd.hit();
                });
            }
            cd.done.notified().await;
            t0.elapsed()
        });
        root.await.unwrap()
    })
}

fn yield_many() {
    if !variant("yield_many", "tokio") {
        return;
    }
    let rt = rt();
    if !cold() {
        yield_many_once(&rt);
    }
    let d = yield_many_once(&rt);
    let n = (YIELD_TASKS * YIELDS_PER_TASK) as f64;
    report("yield_many", "tokio", n / d.as_secs_f64(), "yields/s");
}

// ------------------------------------------------------------- chained_spawn
fn chain(cd: Arc<Countdown>, n: usize) {
    if n == 0 {
        cd.hit();
    } else {
        tokio::spawn(async move { chain(cd, n - 1) });
    }
}

fn chained_spawn_once(rt: &Runtime) -> Duration {
    rt.block_on(async {
        let root = tokio::spawn(async {
            let cd = Countdown::new(1);
            let t0 = Instant::now();
            chain(cd.clone(), CHAIN_DEPTH);
            cd.done.notified().await;
            t0.elapsed()
        });
        root.await.unwrap()
    })
}

fn chained_spawn() {
    if !variant("chained_spawn", "tokio") {
        return;
    }
    let rt = rt();
    if !cold() {
        chained_spawn_once(&rt);
    }
    let d = chained_spawn_once(&rt);
    report(
        "chained_spawn",
        "tokio",
        CHAIN_DEPTH as f64 / d.as_secs_f64(),
        "tasks/s",
    );
}

// ----------------------------------------------------------------- ping_pong
fn ping_pong_bounded_once(rt: &Runtime) -> Duration {
    rt.block_on(async {
        let (tx_ping, mut rx_ping) = mpsc::channel::<u64>(1);
        let (tx_pong, mut rx_pong) = mpsc::channel::<u64>(1);
        let ponger = tokio::spawn(async move {
            while let Some(v) = rx_ping.recv().await {
                if tx_pong.send(v).await.is_err() {
                    break;
                }
            }
        });
        let pinger = tokio::spawn(async move {
            let t0 = Instant::now();
            for i in 0..PING_PONG_ROUNDS as u64 {
                tx_ping.send(i).await.unwrap();
                let v = rx_pong.recv().await.unwrap();
                debug_assert_eq!(v, i);
            }
            t0.elapsed()
        });
        let d = pinger.await.unwrap();
        ponger.await.unwrap();
        d
    })
}

fn ping_pong_unbounded_once(rt: &Runtime) -> Duration {
    rt.block_on(async {
        let (tx_ping, mut rx_ping) = mpsc::unbounded_channel::<u64>();
        let (tx_pong, mut rx_pong) = mpsc::unbounded_channel::<u64>();
        let ponger = tokio::spawn(async move {
            while let Some(v) = rx_ping.recv().await {
                if tx_pong.send(v).is_err() {
                    break;
                }
            }
        });
        let pinger = tokio::spawn(async move {
            let t0 = Instant::now();
            for i in 0..PING_PONG_ROUNDS as u64 {
                tx_ping.send(i).unwrap();
                let v = rx_pong.recv().await.unwrap();
                debug_assert_eq!(v, i);
            }
            t0.elapsed()
        });
        let d = pinger.await.unwrap();
        ponger.await.unwrap();
        d
    })
}

fn ping_pong() {
    // One runtime for both (run.py runs each in a process of its own when cold).
    let mut shared: Option<Runtime> = None;
    if variant("ping_pong", "tokio") {
        let r = shared.get_or_insert_with(rt);
        if !cold() {
            ping_pong_bounded_once(r);
        }
        let d = ping_pong_bounded_once(r);
        report(
            "ping_pong",
            "tokio",
            PING_PONG_ROUNDS as f64 / d.as_secs_f64(),
            "roundtrips/s",
        );
    }
    if variant("ping_pong", "tokio-unbounded") {
        let r = shared.get_or_insert_with(rt);
        if !cold() {
            ping_pong_unbounded_once(r);
        }
        let d = ping_pong_unbounded_once(r);
        report(
            "ping_pong",
            "tokio-unbounded",
            PING_PONG_ROUNDS as f64 / d.as_secs_f64(),
            "roundtrips/s",
        );
    }
}

// -------------------------------------------------------------------- timers
// Equivalent of libuv's uv_timer_init / uv_timer_start / uv_timer_stop:
//   construct Sleep (untimed, like uv_timer_init: no driver interaction),
//   Sleep::reset(deadline)  -> inserts the entry into the timer wheel,
//   dropping the Sleep      -> removes it from the wheel.
// The Sleeps live in one pre-allocated Vec (like an array of uv_timer_t), so
// no per-timer heap allocation is timed.
fn timers_once(rt: &Runtime, offsets_ms: &[u64]) -> Duration {
    rt.block_on(async {
        let base = tokio::time::Instant::now();
        let far = base + Duration::from_secs(86_400);
        let mut slots: Vec<Option<Sleep>> = Vec::with_capacity(offsets_ms.len());
        for _ in 0..offsets_ms.len() {
            slots.push(Some(tokio::time::sleep_until(far)));
        }
        // From here on `slots` is never resized or moved, so pinning its
        // elements in place is sound.
        let t0 = Instant::now();
        for (slot, &ms) in slots.iter_mut().zip(offsets_ms) {
            let s = unsafe { Pin::new_unchecked(slot.as_mut().unwrap()) };
            s.reset(base + Duration::from_millis(ms));
        }
        for slot in slots.iter_mut().step_by(2) {
            let mut p = unsafe { Pin::new_unchecked(slot) };
            p.set(None); // drop in place == cancel
        }
        let d = t0.elapsed();
        drop(slots); // cancels the other half, untimed
        d
    })
}

fn timers() {
    if !variant("timers", "tokio") {
        return;
    }
    let rt = rt();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let offsets: Vec<u64> = (0..TIMERS)
        .map(|_| rng.next() % (TIMER_MAX_MS + 1))
        .collect();
    if !cold() {
        timers_once(&rt, &offsets);
    }
    let d = timers_once(&rt, &offsets);
    let ops = (TIMERS + TIMERS / 2) as f64;
    report("timers", "tokio", ops / d.as_secs_f64(), "ops/s");
}

// ----------------------------------------------------- rss_per_sleeping_task
fn rss_per_sleeping_task() {
    let rt = rt();
    rt.block_on(async {
        let started = Arc::new(AtomicUsize::new(0));
        let before = vm_rss_bytes();
        for _ in 0..SLEEPING_TASKS {
            let started = started.clone();
            tokio::spawn(async move {
                // Counted in the same poll that registers the sleep.
                started.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(3600)).await;
            });
        }
        while started.load(Ordering::Relaxed) < SLEEPING_TASKS {
            tokio::task::yield_now().await;
        }
        let after = vm_rss_bytes();
        // No cold mode: measured once, without warm-up.
        report_raw(
            "rss_per_sleeping_task",
            "tokio",
            (after as f64 - before as f64) / SLEEPING_TASKS as f64,
            "bytes",
        );
    });
    // Do not tear down 100k tasks; just leave.
    std::process::exit(0);
}

// ------------------------------------------------------------------ idle_rss
fn idle_rss() {
    let rt = rt();
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
    // No cold mode: measured once, in a fresh process.
    report_raw("idle_rss", "tokio", vm_rss_bytes() as f64, "bytes");
}

// ------------------------------------------------- multi-thread (bench_mt's)
// The workloads of tests/bench/bench_mt.c, same sizes, on tokio's
// multi-thread runtime with 1 and 2 worker threads. As in bench_mt, the
// workload runs in a task on the runtime (the main thread only waits), each
// variant on a fresh runtime, warm-up pass first unless cold. tokio cannot pin
// a task to a worker: mt_ping_pong's two tasks go where the scheduler puts
// them (bench_mt's weft-mt2 too; its weft-mt2-apart pins them to different
// workers).
const MT_SPAWN_TASKS: usize = 1_000_000;
const MT_YIELD_TASKS: usize = 1_000;
const MT_YIELDS: usize = 1_000;
const MT_CHAIN: usize = 100_000;
const MT_ROUND_TRIPS: usize = 100_000;
const MT_FAN_TASKS: u64 = 64;
const MT_FAN_WORK: u64 = 2_000_000;

fn mt_rt(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("build multi-thread runtime")
}

/// Runs `once` on a fresh multi-thread runtime per worker count (1, 2):
/// warm-up pass unless cold, then the timed one; reports count / seconds.
fn mt_measure(workload: &str, unit: &str, count: f64, once: fn(&Runtime, usize) -> Duration) {
    for workers in 1..=2usize {
        let imp = format!("tokio-mt{}", workers);
        if !variant(workload, &imp) {
            continue;
        }
        let rt = mt_rt(workers);
        if !cold() {
            once(&rt, workers);
        }
        let d = once(&rt, workers);
        report(workload, &imp, count / d.as_secs_f64(), unit);
    }
}

fn mt_spawn_many_once(rt: &Runtime, _workers: usize) -> Duration {
    rt.block_on(async {
        tokio::spawn(async {
            let cd = Countdown::new(MT_SPAWN_TASKS);
            let t0 = Instant::now();
            for _ in 0..MT_SPAWN_TASKS {
                let cd = cd.clone();
                tokio::spawn(async move {
                    cd.hit();
                });
            }
            cd.done.notified().await;
            t0.elapsed()
        })
        .await
        .unwrap()
    })
}

fn mt_yield_many_once(rt: &Runtime, _workers: usize) -> Duration {
    rt.block_on(async {
        tokio::spawn(async {
            let t0 = Instant::now();
            let mut handles = Vec::with_capacity(MT_YIELD_TASKS);
            for _ in 0..MT_YIELD_TASKS {
                handles.push(tokio::spawn(async {
                    for _ in 0..MT_YIELDS {
                        tokio::task::yield_now().await;
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            t0.elapsed()
        })
        .await
        .unwrap()
    })
}

fn mt_chain(cd: Arc<Countdown>, n: usize) {
    if n == 0 {
        cd.hit();
    } else {
        tokio::spawn(async move { mt_chain(cd, n - 1) });
    }
}

fn mt_chained_spawn_once(rt: &Runtime, _workers: usize) -> Duration {
    rt.block_on(async {
        tokio::spawn(async {
            let cd = Countdown::new(1);
            let t0 = Instant::now();
            mt_chain(cd.clone(), MT_CHAIN);
            cd.done.notified().await;
            t0.elapsed()
        })
        .await
        .unwrap()
    })
}

fn mt_ping_pong_once(rt: &Runtime, _workers: usize) -> Duration {
    rt.block_on(async {
        tokio::spawn(async {
            let (tx_ping, mut rx_ping) = mpsc::channel::<u64>(1);
            let (tx_pong, mut rx_pong) = mpsc::channel::<u64>(1);
            let t0 = Instant::now();
            let ponger = tokio::spawn(async move {
                for _ in 0..MT_ROUND_TRIPS {
                    let v = rx_ping.recv().await.unwrap();
                    tx_pong.send(v).await.unwrap();
                }
            });
            for i in 0..MT_ROUND_TRIPS as u64 {
                tx_ping.send(i).await.unwrap();
                let v = rx_pong.recv().await.unwrap();
                assert_eq!(v, i, "mt_ping_pong: wrong value came back");
            }
            ponger.await.unwrap();
            t0.elapsed()
        })
        .await
        .unwrap()
    })
}

/// bench_mt's work item: 2M steps of a 64-bit LCG. LLVM would fold
/// consecutive steps into one (x*a^2 + c*(a+1)) when it unrolls, which gcc
/// does not do to the C version; an empty asm statement that "changes" x
/// after every step keeps one multiply-add per step, in a register.
fn mt_work(i: u64) -> u64 {
    let mut x = i | 1;
    for _ in 0..MT_FAN_WORK {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) x, options(nomem, nostack, preserves_flags));
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            x = std::hint::black_box(x);
        }
    }
    x >> 40
}

fn mt_fanout_once(rt: &Runtime, _workers: usize) -> Duration {
    rt.block_on(async {
        tokio::spawn(async {
            let t0 = Instant::now();
            let handles: Vec<_> = (0..MT_FAN_TASKS)
                .map(|i| tokio::spawn(async move { mt_work(i) }))
                .collect();
            let mut sum = 0u64;
            for h in handles {
                sum = sum.wrapping_add(h.await.unwrap());
            }
            let d = t0.elapsed();
            assert!(sum != 0, "mt_fanout: no work done");
            d
        })
        .await
        .unwrap()
    })
}

fn mt_spawn_many() {
    mt_measure("mt_spawn_many", "tasks/s", MT_SPAWN_TASKS as f64, mt_spawn_many_once);
}

fn mt_yield_many() {
    let n = (MT_YIELD_TASKS * MT_YIELDS) as f64;
    mt_measure("mt_yield_many", "yields/s", n, mt_yield_many_once);
}

fn mt_chained_spawn() {
    mt_measure("mt_chained_spawn", "tasks/s", MT_CHAIN as f64, mt_chained_spawn_once);
}

fn mt_ping_pong() {
    let n = MT_ROUND_TRIPS as f64;
    mt_measure("mt_ping_pong", "round-trips/s", n, mt_ping_pong_once);
}

fn mt_fanout() {
    let n = (MT_FAN_TASKS * MT_FAN_WORK) as f64;
    mt_measure("mt_fanout", "items/s", n, mt_fanout_once);
}

const WORKLOADS: &[(&str, fn())] = &[
    ("spawn_many", spawn_many),
    ("yield_many", yield_many),
    ("chained_spawn", chained_spawn),
    ("ping_pong", ping_pong),
    ("timers", timers),
    ("rss_per_sleeping_task", rss_per_sleeping_task),
    ("idle_rss", idle_rss),
    ("mt_spawn_many", mt_spawn_many),
    ("mt_yield_many", mt_yield_many),
    ("mt_chained_spawn", mt_chained_spawn),
    ("mt_ping_pong", mt_ping_pong),
    ("mt_fanout", mt_fanout),
];

/// bench_echo's peer: an echo server on 127.0.0.1 (prints "PORT <n>", serves
/// until killed), on a current-thread runtime (1 worker) or a multi-thread
/// one with `workers` workers; one task per connection, as tokio's own echo
/// example does.
fn echo_server(workers: usize) {
    let rt = if workers <= 1 {
        Builder::new_current_thread().enable_all().build()
    } else {
        Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
    .unwrap();
    rt.block_on(async {
        use std::io::Write;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("PORT {}", l.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        loop {
            let (mut s, _) = match l.accept().await {
                Ok(c) => c,
                Err(_) => continue,
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg == "echo_server" {
        let workers = std::env::args().nth(2).and_then(|w| w.parse().ok()).unwrap_or(1);
        echo_server(workers);
        return;
    }
    if arg == "--list" {
        for (name, _) in WORKLOADS {
            println!("{}", name);
        }
        return;
    }
    match WORKLOADS.iter().find(|(name, _)| *name == arg) {
        Some((_, f)) => f(),
        None => {
            eprintln!("usage: peer_tokio <workload>|--list");
            std::process::exit(2);
        }
    }
}
