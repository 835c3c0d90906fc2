//! tokio peer for weft's benchmark suite.
//!
//! Usage: peer_tokio <workload>      run one workload, print BENCH lines
//!        peer_tokio --list          print the workload names this peer has
//!
//! Every workload runs on a current-thread runtime (one worker thread).
//! Output lines: `BENCH <workload> <impl> <value> <unit>` (value as %.6g).

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

fn report(workload: &str, imp: &str, value: f64, unit: &str) {
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
    let rt = rt();
    spawn_many_once(&rt); // warm-up
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
    let rt = rt();
    yield_many_once(&rt);
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
    let rt = rt();
    chained_spawn_once(&rt);
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
    let rt = rt();
    ping_pong_bounded_once(&rt);
    let d = ping_pong_bounded_once(&rt);
    report(
        "ping_pong",
        "tokio",
        PING_PONG_ROUNDS as f64 / d.as_secs_f64(),
        "roundtrips/s",
    );
    ping_pong_unbounded_once(&rt);
    let d = ping_pong_unbounded_once(&rt);
    report(
        "ping_pong",
        "tokio-unbounded",
        PING_PONG_ROUNDS as f64 / d.as_secs_f64(),
        "roundtrips/s",
    );
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
    let rt = rt();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let offsets: Vec<u64> = (0..TIMERS)
        .map(|_| rng.next() % (TIMER_MAX_MS + 1))
        .collect();
    timers_once(&rt, &offsets);
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
        report(
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
    report("idle_rss", "tokio", vm_rss_bytes() as f64, "bytes");
}

const WORKLOADS: &[(&str, fn())] = &[
    ("spawn_many", spawn_many),
    ("yield_many", yield_many),
    ("chained_spawn", chained_spawn),
    ("ping_pong", ping_pong),
    ("timers", timers),
    ("rss_per_sleeping_task", rss_per_sleeping_task),
    ("idle_rss", idle_rss),
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
