#!/usr/bin/env python3
"""Benchmark runner: weft's bench_* programs against peer runtimes, warm and cold.

    python3 tests/bench/run.py --build-dir DIR --weft-bin-dir WDIR \
        [--reps N] [--only workload,...] [--peers boost,libuv,tokio,go] \
        [--no-cold] [--timeout SECONDS] [--pin CPU]

1. Builds the peers under tests/bench/peers/ into DIR (nothing is written to
   the source tree). A peer whose toolchain or libraries are missing is
   reported as "skipped: <reason>" and left out.
2. Runs every executable in WDIR whose name starts with "bench_" (weft's
   benches, run without arguments) and every peer workload (one process per
   peer program and workload: `<peer> <workload>`), interleaved, N times:
   - warm: as always, an untimed warm-up pass, then the timed one;
   - cold (unless --no-cold): with BENCH_COLD=1, no warm-up, and
     BENCH_VARIANT=k, so that each measurement (impl) is the first pass of a
     fresh process of its own; impls are reported with the suffix "-cold".
   Every program understands both variables (tests/bench/bench.h, and each
   peer); BENCH_VARIANT=list makes a program print its measurements,
   "VARIANT <workload> <impl>", which is how the cold runs are found.
   Workloads with no cold mode are run warm only: rss_per_sleeping_task and
   idle_rss (measured once, without warm-up, anyway), echo/echo_p99/echo_cpu (a load
   against a server, after its own warm-up) and the simulator's sim_* rates
   (long runs; exploration is many runtimes in a row).
3. Collects the lines `BENCH <workload> <impl> <value> <unit>` and prints a
   single-thread table and a multi-thread table (bench_mt's mt_* workloads,
   whose peers are tokio's multi-thread runtime with 1 and 2 workers and Go
   with GOMAXPROCS 1 and 2), each with the warm and the cold median per impl
   and the ratios against weft (warm against warm, cold against cold), then
   one section per workload with every weft impl's ratios. The same report
   goes to DIR/bench-results.md, with the machine (CPU model, cores) and the
   date; every sample goes to DIR/bench-results.json.

--only restricts the run to the named workloads (programs that make several,
such as bench_mt, run only the measurements of those, one per process).

Exit status: 0, unless a build of an available peer failed or a program that
was run crashed, timed out, or exited non-zero (then 1); 2 for bad usage.
Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"

# Canonical order of the workloads in the report (names follow tokio's
# benchmarks); anything else a program prints is listed after these.
WORKLOADS = [
    "spawn_many",
    "yield_many",
    "chained_spawn",
    "ping_pong",
    "timers",
    "fiber_switch",
    "rss_per_sleeping_task",
    "idle_rss",
]

# bench_mt's workloads (the multi-thread table), in report order.
MT_WORKLOADS = [
    "mt_spawn_many",
    "mt_yield_many",
    "mt_chained_spawn",
    "mt_ping_pong",
    "mt_fanout",
]
REPORT_ORDER = WORKLOADS + MT_WORKLOADS

# Workloads with no cold mode (see the docstring); their programs ignore
# BENCH_COLD, and are never listed or run cold.
NO_COLD_WORKLOADS = {"rss_per_sleeping_task", "idle_rss", "echo", "echo_p99", "echo_cpu",
                     "soak_rss_per_idle_conn"}
# weft programs built with BENCH_NO_COLD, and the workloads they report (for
# --only, since they cannot list their measurements).
NO_COLD_PROGRAMS = {
    "bench_echo": {"echo", "echo_p99", "echo_cpu"},
    "bench_sim": {"sim_decisions", "sim_seeds", "sim_seeds_2jobs", "sim_time_ratio", "sim_trace_cost"},
    "bench_idle_rss": {"idle_rss"},
    "bench_rss_per_sleeping_task": {"rss_per_sleeping_task"},
}
COLD_SUFFIX = "-cold"


def has_cold_mode(workload):
    return workload not in NO_COLD_WORKLOADS and not (workload or "").startswith("sim_")


def is_mt_workload(workload):
    return workload.startswith("mt_")


def base_impl(impl):
    """tokio-cold -> (tokio, True); tokio -> (tokio, False)."""
    if impl.endswith(COLD_SUFFIX):
        return impl[: -len(COLD_SUFFIX)], True
    return impl, False


# Units for which a smaller number is better. Everything else (ops/s,
# tasks/s, ...) is treated as higher-is-better.
LOWER_IS_BETTER = {"ns", "us", "ms", "s", "bytes", "B", "KiB", "MiB", "kB", "KB", "MB"}
# Dimensionless ratios ("x") go either way; these are costs (a factor over a
# baseline), so smaller is better.
LOWER_IS_BETTER_WORKLOADS = {"sim_trace_cost", "select4_vs_recv"}

BENCH_RE = re.compile(r"^BENCH\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")

# Environment for every benchmark process. GOMAXPROCS=1 keeps the Go peer on
# one P even before its main() calls runtime.GOMAXPROCS(1); it is harmless
# for the others. (Go's mt_* workloads set GOMAXPROCS 1 and 2 themselves.)
RUN_ENV_EXTRA = {"GOMAXPROCS": "1", "LC_ALL": "C", "RUST_BACKTRACE": "1"}


def log(msg=""):
    print(msg, file=sys.stderr, flush=True)


def tail(text, lines=15):
    text = (text or "").rstrip()
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def is_lower_better(unit, workload=None):
    return unit in LOWER_IS_BETTER or workload in LOWER_IS_BETTER_WORKLOADS


def is_weft_impl(impl):
    return impl == "weft" or impl.startswith("weft-") or impl.startswith("weft_")


def workload_rank(name):
    return (REPORT_ORDER.index(name), "") if name in REPORT_ORDER else (len(REPORT_ORDER), name)


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


class BuildLog:
    def __init__(self):
        self.skipped = []  # (peer, reason)
        self.failed = []  # (peer, reason)
        self.built = []  # (peer, [exe paths])

    def skip(self, peer, reason):
        self.skipped.append((peer, reason))
        log(f"  {peer}: skipped: {reason}")

    def fail(self, peer, reason, output=""):
        self.failed.append((peer, reason))
        log(f"  {peer}: BUILD FAILED: {reason}")
        if output:
            log(tail(output, 30))


def run_build(cmd, cwd=None, env=None, timeout=900):
    """Runs a build command; returns (ok, combined output)."""
    log("    $ " + " ".join(str(c) for c in cmd))
    try:
        p = subprocess.run(
            [str(c) for c in cmd],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        return False, f"timed out after {timeout}s\n{e.output or ''}"
    except OSError as e:
        return False, str(e)
    return p.returncode == 0, p.stdout


def missing_dependency(output, needles):
    """Returns the first line of `output` that says a header/library/crate is missing."""
    for line in output.splitlines():
        low = line.lower()
        if any(n in low for n in needles):
            return line.strip()
    return None


def find_tool(names, env_var=None):
    if env_var and os.environ.get(env_var):
        parts = os.environ[env_var].split()
        if parts and shutil.which(parts[0]):
            return parts
    for n in names:
        path = shutil.which(n)
        if path:
            return [path]
    return None


def build_boost(out, blog):
    srcs = sorted((PEERS / "boost").glob("*.cpp"))
    if not srcs:
        return []
    cxx = find_tool(["g++", "c++", "clang++"], "CXX")
    if not cxx:
        blog.skip("boost", "no C++ compiler (g++/c++/clang++) on PATH")
        return []
    exes = []
    for src in srcs:
        name = f"boost-{src.stem}"
        exe = out / f"peer_boost_{src.stem}"
        cmd = cxx + ["-O2", "-std=c++17", "-o", exe, src,
                     "-lboost_fiber", "-lboost_context", "-pthread"]
        ok, output = run_build(cmd)
        if ok:
            exes.append(exe)
            continue
        why = missing_dependency(output, ["no such file or directory", "cannot find -l",
                                          "unable to find library"])
        if why:
            blog.skip(name, f"Boost.Fiber/Boost.Context not installed "
                            f"(libboost-fiber-dev, libboost-context-dev): {why}")
        else:
            blog.fail(name, f"{cxx[0]} failed on {src.name}", output)
    if exes:
        blog.built.append(("boost", exes))
    return exes


def build_libuv(out, blog):
    srcs = sorted((PEERS / "libuv").glob("*.c"))
    if not srcs:
        return []
    cc = find_tool(["gcc", "cc", "clang"], "CC")
    if not cc:
        blog.skip("libuv", "no C compiler (gcc/cc/clang) on PATH")
        return []
    flags = ["-luv"]
    pkgconf = shutil.which("pkg-config")
    if pkgconf:
        p = subprocess.run([pkgconf, "--cflags", "--libs", "libuv"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if p.returncode == 0 and p.stdout.strip():
            flags = p.stdout.split()
    exes = []
    for src in srcs:
        name = f"libuv-{src.stem}"
        exe = out / ("peer_libuv" if len(srcs) == 1 else f"peer_libuv_{src.stem}")
        cmd = cc + ["-O2", "-std=c11", "-o", exe, src] + flags
        ok, output = run_build(cmd)
        if ok:
            exes.append(exe)
            continue
        why = missing_dependency(output, ["no such file or directory", "cannot find -l",
                                          "unable to find library"])
        if why:
            blog.skip(name, f"libuv not installed (libuv1-dev): {why}")
        else:
            blog.fail(name, f"{cc[0]} failed on {src.name}", output)
    if exes:
        blog.built.append(("libuv", exes))
    return exes


def find_cargo():
    path = shutil.which("cargo")
    if path:
        return path
    home_cargo = Path.home() / ".cargo" / "bin" / "cargo"
    if home_cargo.exists() and os.access(home_cargo, os.X_OK):
        return str(home_cargo)
    return None


def cargo_registry_dir(project):
    """The directory source named in the project's .cargo/config.toml."""
    cfg = project / ".cargo" / "config.toml"
    if cfg.exists():
        m = re.search(r'^\s*directory\s*=\s*"([^"]+)"', cfg.read_text(), re.M)
        if m:
            return Path(m.group(1))
    return None


def build_tokio(build_dir, blog):
    project = PEERS / "tokio"
    if not (project / "Cargo.toml").exists():
        return []
    cargo = find_cargo()
    if not cargo:
        blog.skip("tokio", "cargo not found (PATH or ~/.cargo/bin)")
        return []
    registry = cargo_registry_dir(project)
    if registry is None or not registry.is_dir():
        blog.skip("tokio", f"Debian crate directory {registry} not found "
                           "(apt-get install librust-tokio-dev)")
        return []
    if not any(registry.glob("tokio-1.*")):
        blog.skip("tokio", f"no tokio-1.* crate in {registry} (apt-get install librust-tokio-dev)")
        return []
    # Build from a copy under the build dir: cargo writes Cargo.lock next to
    # Cargo.toml, and nothing may be written into the source tree. The copy
    # carries .cargo/config.toml (crates-io -> Debian directory source).
    src = build_dir / "src" / "tokio"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(project, src, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    target = build_dir / "cargo-target"
    env = dict(os.environ)
    env["CARGO_TARGET_DIR"] = str(target)
    env["CARGO_NET_OFFLINE"] = "true"
    cargo_bin_dir = str(Path(cargo).parent)
    env["PATH"] = cargo_bin_dir + os.pathsep + env.get("PATH", "")  # rustc next to cargo
    ok, output = run_build([cargo, "build", "--release", "--offline", "--quiet"], cwd=src, env=env)
    if not ok:
        why = missing_dependency(output, ["no matching package", "failed to select a version",
                                          "linker `cc` not found",
                                          "failed to load source", "could not find `cargo`",
                                          "no such command", "rustc: not found",
                                          "could not execute process `rustc"])
        if why:
            blog.skip("tokio", f"offline cargo build impossible here: {why}")
        else:
            blog.fail("tokio", "cargo build --release --offline failed", output)
        return []
    exe = target / "release" / "peer_tokio"
    if not exe.exists():
        blog.fail("tokio", f"cargo succeeded but {exe} is missing")
        return []
    blog.built.append(("tokio", [exe]))
    return [exe]


def build_go(build_dir, out, blog):
    project = PEERS / "go"
    if not (project / "go.mod").exists():
        return []
    go = shutil.which("go")
    if not go:
        blog.skip("go", "go not found on PATH (apt-get install golang-go)")
        return []
    gohome = build_dir / "go"
    env = dict(os.environ)
    env.update({
        "GOCACHE": str(gohome / "cache"),
        "GOPATH": str(gohome / "path"),
        "GOMODCACHE": str(gohome / "path" / "pkg" / "mod"),
        "GOENV": "off",
        "GOFLAGS": "-mod=mod",
        "GO111MODULE": "on",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOWORK": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    })
    exe = out / "peer_go"
    ok, output = run_build([go, "build", "-trimpath", "-o", exe, "."], cwd=project, env=env)
    if not ok:
        blog.fail("go", "go build failed", output)
        return []
    blog.built.append(("go", [exe]))
    return [exe]


def build_peers(build_dir, which):
    out = build_dir / "peers"
    out.mkdir(parents=True, exist_ok=True)
    blog = BuildLog()
    exes = []
    log("== building peers into " + str(out))
    if "boost" in which:
        exes += build_boost(out, blog)
    if "libuv" in which:
        exes += build_libuv(out, blog)
    if "tokio" in which:
        exes += build_tokio(build_dir, blog)
    if "go" in which:
        exes += build_go(build_dir, out, blog)
    return exes, blog


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


class Job:
    def __init__(self, label, argv, workload, is_weft, env=None, cold=False):
        self.label = label
        self.argv = [str(a) for a in argv]
        self.workload = workload  # None: unknown (a weft bench named otherwise)
        self.is_weft = is_weft
        self.env = dict(env or {})  # on top of the common environment
        self.cold = cold


def list_variants(argv, env, cold):
    """The measurements a program makes, in order: [(workload, impl)], from
    BENCH_VARIANT=list; None and a reason if it cannot say."""
    e = dict(env)
    e["BENCH_VARIANT"] = "list"
    if cold:
        e["BENCH_COLD"] = "1"
    else:
        e.pop("BENCH_COLD", None)
    try:
        p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60, env=e)
    except (OSError, subprocess.TimeoutExpired) as ex:
        return None, str(ex)
    if p.returncode != 0:
        return None, f"exit {p.returncode}: {p.stderr.strip()}"
    out = []
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "VARIANT":
            out.append((parts[1], parts[2]))
    return out, None


def expand_jobs(job, env, only, cold, warnings):
    """The runs of one program (a weft bench, or a peer on one workload): its
    warm run, and one cold run per measurement. With --only, a program that
    makes measurements of other workloads too runs only the selected ones,
    one per process (BENCH_VARIANT), warm and cold."""
    name = Path(job.argv[0]).name
    cold_capable = has_cold_mode(job.workload) and name not in NO_COLD_PROGRAMS
    if not cold_capable:
        known = NO_COLD_PROGRAMS.get(name) or ({job.workload} if job.workload else None)
        if only and known is not None and not (known & only):
            return []
        return [job]
    variants, err = list_variants(job.argv, env, cold=True)
    if variants is None:
        warnings.append(f"{job.label}: BENCH_VARIANT=list failed ({err}); run warm only")
        return [job]
    if not variants:
        warnings.append(f"{job.label}: lists no measurements; run warm only")
        return [job]
    selected = [(k, w, i) for k, (w, i) in enumerate(variants) if not only or w in only]
    if not selected:
        return []
    jobs = []
    what = job.argv[1] if len(job.argv) > 1 else ""
    if len(selected) == len(variants):
        jobs.append(job)  # the whole program, warm, as always
    else:
        for k, w, i in selected:
            jobs.append(Job(f"{job.label} {what} {base_impl(i)[0]}".replace("  ", " "), job.argv, w,
                            job.is_weft, {"BENCH_VARIANT": str(k)}))
    if cold:
        for k, w, i in selected:
            jobs.append(Job(f"{job.label} {what} {i}".replace("  ", " "), job.argv, w, job.is_weft,
                            {"BENCH_COLD": "1", "BENCH_VARIANT": str(k)}, cold=True))
    return jobs


def list_peer_workloads(exe):
    try:
        p = subprocess.run([str(exe), "--list"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if p.returncode != 0:
        return None, f"exit {p.returncode}: {p.stderr.strip()}"
    return [w.strip() for w in p.stdout.split() if w.strip()], None


def weft_workload_from_name(name):
    """bench_ping_pong -> ping_pong; bench_ping_pong_nostack -> ping_pong."""
    rest = name[len("bench_"):]
    for w in sorted(WORKLOADS, key=len, reverse=True):
        if rest == w or rest.startswith(w + "_") or rest.startswith(w + "-"):
            return w
    return None


def collect_weft_jobs(wdir, only):
    jobs = []
    if wdir is None:
        return jobs
    if not wdir.is_dir():
        log(f"warning: weft bin dir {wdir} does not exist; running peers only")
        return jobs
    for path in sorted(wdir.iterdir()):
        if not path.name.startswith("bench_") or not path.is_file():
            continue
        if not os.access(path, os.X_OK):
            continue
        w = weft_workload_from_name(path.name)
        if only and w is not None and w not in only:
            continue
        jobs.append(Job(f"weft:{path.name}", [path], w, True))
    if not jobs:
        log(f"warning: no executable bench_* in {wdir}; running peers only")
    return jobs


def schedule(weft_jobs, peer_jobs):
    """Orders one repetition: workload by workload, weft and peer runs
    alternating inside each workload (warm runs first, then cold, each cold
    run a fresh process); weft benches not tied to one workload are spread
    evenly over the whole sequence."""
    keyed_weft = {}
    loose_weft = []
    for j in weft_jobs:
        if j.workload is None:
            loose_weft.append(j)
        else:
            keyed_weft.setdefault(j.workload, []).append(j)
    peers_by_w = {}
    for j in peer_jobs:
        peers_by_w.setdefault(j.workload, []).append(j)
    order = []
    for w in sorted(set(keyed_weft) | set(peers_by_w), key=workload_rank):
        ws = sorted(keyed_weft.get(w, []), key=lambda j: j.cold)  # stable: warm first
        ps = sorted(peers_by_w.get(w, []), key=lambda j: j.cold)
        while ws or ps:
            if ws:
                order.append(ws.pop(0))
            if ps:
                order.append(ps.pop(0))
    if loose_weft:
        # Insert loose weft jobs at evenly spaced positions, starting at 0.
        n = len(order) + len(loose_weft)
        step = n / len(loose_weft)
        for k, j in enumerate(loose_weft):
            order.insert(min(int(round(k * step)), len(order)), j)
    return order


class Results:
    def __init__(self):
        self.samples = {}  # (workload, impl) -> [values]
        self.units = {}  # (workload, impl) -> unit
        self.crashes = []  # text
        self.warnings = []

    def add(self, workload, impl, value, unit, source):
        key = (workload, impl)
        if key in self.units and self.units[key] != unit:
            self.warnings.append(f"{source}: {workload}/{impl} unit {unit!r} differs from "
                                 f"earlier {self.units[key]!r}; sample ignored")
            return
        self.units[key] = unit
        self.samples.setdefault(key, []).append(value)


def run_job(job, rep, reps, timeout, env, only, results):
    t0 = time.monotonic()
    head = f"[{rep + 1}/{reps}] {job.label}"
    if len(job.argv) > 1 and job.argv[1] not in job.label:
        head += f" {job.argv[1]}"
    if job.env:
        head += " (" + " ".join(f"{k}={v}" for k, v in sorted(job.env.items())) + ")"
    env = dict(env)
    env.update(job.env)
    try:
        # Own process group, so a hung program and its children can be
        # stopped together.
        p = subprocess.Popen(job.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True)
    except OSError as e:
        msg = f"{head}: could not start: {e}"
        results.crashes.append(msg)
        log(msg)
        return
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate()
        msg = f"{head}: TIMED OUT after {timeout:g}s"
        results.crashes.append(msg)
        log(msg)
        return
    dt = time.monotonic() - t0
    if p.returncode != 0:
        # Whatever a failed run printed is not used.
        how = (f"killed by signal {-p.returncode}" if p.returncode < 0
               else f"exit status {p.returncode}")
        msg = f"{head}: CRASHED ({how}); its output is discarded"
        results.crashes.append(msg)
        log(msg)
        log(tail(stderr))
        return
    n = parse_output(job, stdout, only, results)
    if n == 0:
        results.warnings.append(f"{head}: no BENCH lines")
    log(f"{head}: {n} result(s), {dt:.1f}s")


def parse_output(job, stdout, only, results):
    n = 0
    for line in (stdout or "").splitlines():
        m = BENCH_RE.match(line.strip())
        if not m:
            continue
        workload, impl, value, unit = m.groups()
        if only and workload not in only:
            continue
        try:
            v = float(value)
        except ValueError:
            results.warnings.append(f"{job.label}: unparsable value in {line!r}")
            continue
        if base_impl(impl)[1] != job.cold:
            # A cold run must say -cold and a warm one must not: a program
            # that ignored the switch would mix the two columns up.
            results.warnings.append(f"{job.label}: {'cold' if job.cold else 'warm'} run reported "
                                    f"{workload}/{impl}; sample ignored")
            continue
        results.add(workload, impl, v, unit, job.label)
        n += 1
    return n


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def machine_info():
    model, ncpu = "unknown", 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("processor"):
                    ncpu += 1
    except OSError:
        pass
    if not ncpu:
        ncpu = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = ncpu
    u = os.uname()
    return {
        "cpu": model,
        "cores": ncpu,
        "usable_cores": usable,
        "kernel": f"{u.sysname} {u.release} {u.version} {u.machine}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": platform.python_version(),
    }


def tool_version(argv, pattern=None):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = p.stdout.strip()
    if not text:
        return None
    if pattern:
        m = re.search(pattern, text)
        return m.group(0) if m else text.splitlines()[0]
    return text.splitlines()[0]


def toolchain_info():
    info = {}
    gcc = find_tool(["gcc", "cc"], "CC")
    if gcc:
        info["cc"] = tool_version(gcc + ["--version"])
        if info["cc"]:
            m = re.match(r"(\S+).*?(\d+\.\d+\.\d+)\s*$", info["cc"])
            if m:
                info["cc"] = f"{Path(m.group(1)).name} {m.group(2)}"
    cargo = find_cargo()
    if cargo:
        rustc = Path(cargo).parent / "rustc"
        info["rustc"] = tool_version([str(rustc) if rustc.exists() else "rustc", "--version"],
                                     r"\d+\.\d+\.\d+")
    if shutil.which("go"):
        info["go"] = tool_version(["go", "version"], r"go\d+(\.\d+)*")
    vh = Path("/usr/include/boost/version.hpp")
    if vh.exists():
        m = re.search(r'#define BOOST_LIB_VERSION "([^"]+)"', vh.read_text())
        if m:
            info["boost"] = m.group(1).replace("_", ".")
    if shutil.which("pkg-config"):
        info["libuv"] = tool_version(["pkg-config", "--modversion", "libuv"])
    reg = cargo_registry_dir(PEERS / "tokio")
    if reg and reg.is_dir():
        toks = sorted(p.name for p in reg.glob("tokio-1.*"))
        if toks:
            info["tokio"] = toks[-1].split("-", 1)[1]
    return {k: v for k, v in info.items() if v}


def sig3(v):
    """Three significant digits, keeping trailing zeros (20.0, 5.50)."""
    s = f"{v:#.3g}"
    return s.rstrip(".") if "e" not in s else s


def fmt_value(v, unit):
    if unit == "bytes":
        if abs(v) >= 1 << 20:
            return f"{sig3(v / (1 << 20))} MiB"
        if abs(v) >= 10 * 1024:
            return f"{sig3(v / 1024)} KiB"
        return f"{v:.0f} B"
    if unit.endswith("/s"):
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= div:
                return f"{sig3(v / div)} {suffix}"
        return sig3(v)
    return sig3(v)


def ratio(weft, peer, unit, workload=None):
    if weft <= 0 or peer <= 0:
        return None
    return peer / weft if is_lower_better(unit, workload) else weft / peer


def collect_medians(results):
    """{workload: {base impl: {"warm"|"cold": (median, runs, spread), "unit": u}}}"""
    out = {}
    for (w, impl), vals in results.samples.items():
        base, is_cold = base_impl(impl)
        m = statistics.median(vals)
        spread = (max(vals) - min(vals)) / abs(m) if m and len(vals) > 1 else None
        e = out.setdefault(w, {}).setdefault(base, {"unit": results.units[(w, impl)]})
        if e["unit"] != results.units[(w, impl)]:
            results.warnings.append(f"{w}/{base}: warm and cold units differ")
        e["cold" if is_cold else "warm"] = (m, len(vals), spread)
    return out


def ordered_impls(impls):
    wefts = sorted(i for i in impls if is_weft_impl(i))
    return wefts, wefts + sorted(i for i in impls if not is_weft_impl(i))


def reference_weft(workload, impl, wefts):
    """The weft impl a peer's row is compared with: "weft" single-threaded;
    the same worker count in the multi-thread table (tokio-mt2 -> weft-mt2)."""
    if is_mt_workload(workload):
        m = re.search(r"-mt(\d+)", impl)
        ref = f"weft-mt{m.group(1)}" if m else None
        return ref if ref in wefts else None
    if "weft" in wefts:
        return "weft"
    return wefts[0] if wefts else None


def fmt_ratio(r):
    return f"{r:.2f}x" if r is not None else "n/a"


def mode_cell(e, mode, workload):
    if mode in e:
        return fmt_value(e[mode][0], e["unit"])
    return "n/a" if mode == "cold" and not has_cold_mode(workload) else "-"


def summary_table(workloads, med):
    lines = ["| workload | impl | unit | warm | cold | cold speed / warm | "
             "weft / impl, warm | weft / impl, cold | runs (warm, cold) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for w in workloads:
        wefts, impls = ordered_impls(med[w])
        for i in impls:
            e = med[w][i]
            unit = e["unit"]
            cw = ratio(e["cold"][0], e["warm"][0], unit, w) if "warm" in e and "cold" in e else None
            row = [w, f"**{i}**" if i in wefts else i, unit, mode_cell(e, "warm", w),
                   mode_cell(e, "cold", w), fmt_ratio(cw) if cw is not None else "-"]
            ref = reference_weft(w, i, wefts)
            for mode in ("warm", "cold"):
                if i in wefts or ref is None:
                    row.append("-")
                    continue
                r_e = med[w][ref]
                if mode not in e or mode not in r_e or r_e["unit"] != unit:
                    row.append("-")
                    continue
                row.append(f"{fmt_ratio(ratio(r_e[mode][0], e[mode][0], unit, w))} ({ref})")
            row.append(f"{e['warm'][1] if 'warm' in e else 0}, {e['cold'][1] if 'cold' in e else 0}")
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def build_report(info, tools, reps, results, blog, only, pinned=None, cold=True):
    lines = ["# weft benchmark comparison", ""]
    lines.append(f"- Date: {info['date']}")
    cores = f"{info['cores']} logical CPUs"
    if info["usable_cores"] != info["cores"]:
        cores += f" ({info['usable_cores']} usable)"
    lines.append(f"- Machine: {info['cpu']}, {cores}")
    lines.append(f"- Kernel: {info['kernel']}")
    if tools:
        lines.append("- Toolchains: " + ", ".join(f"{k} {v}" for k, v in tools.items()))
    lines.append(f"- Repetitions: {reps} (each program run once per repetition; "
                 "median of the runs shown)")
    if cold:
        lines.append("- Warm: an untimed warm-up pass, then the timed one, in one process. "
                     "Cold (BENCH_COLD=1, impls with -cold): no warm-up, each measurement the "
                     "first pass of a fresh process (BENCH_VARIANT). No cold mode: "
                     "rss_per_sleeping_task, idle_rss, echo, sim_* (n/a).")
    else:
        lines.append("- Warm runs only (--no-cold).")
    if only:
        lines.append("- Workloads restricted to: " + ", ".join(sorted(only, key=workload_rank)))
    lines.append("- Single-thread peers run single-threaded (current-thread runtime, "
                 "one fiber scheduler thread, GOMAXPROCS=1). Multi-thread peers of bench_mt: "
                 "tokio's multi-thread runtime with 1 and 2 workers (tokio-mt1, tokio-mt2), "
                 "Go with GOMAXPROCS 1 and 2 (go-mt1, go-mt2).")
    if pinned is not None:
        lines.append(f"- All benchmark processes pinned to CPU {pinned}.")
    lines.append("- Ratios: weft/peer for higher-is-better units (ops/s, tasks/s, ...), "
                 "peer/weft for lower-is-better units (ns, bytes), so above 1 means weft is "
                 "better; warm is compared with warm and cold with cold. \"cold speed / warm\" "
                 "is the same kind of ratio between an impl's cold and warm medians (below 1: "
                 "cold is slower).")
    lines.append("")

    med = collect_medians(results)
    workloads = sorted(med, key=workload_rank)
    other = {w for w in workloads if w.startswith(("echo", "sim_", "soak_"))}
    single = [w for w in workloads if not is_mt_workload(w) and w not in other]
    multi = [w for w in workloads if is_mt_workload(w)]
    rest = [w for w in workloads if w in other]
    if not workloads:
        lines.append("No results.")
        lines.append("")
    for title, ws in (("Single-thread", single), ("Multi-thread (bench_mt)", multi),
                      ("Other (no cold mode)", rest)):
        if not ws:
            continue
        lines.append(f"## {title}")
        lines.append("")
        lines += summary_table(ws, med)

    lines.append("## Per workload, against every weft impl")
    lines.append("")
    for w in workloads:
        wefts, impls = ordered_impls(med[w])
        units = {med[w][i]["unit"] for i in impls}
        unit_desc = ", ".join(sorted(units))
        if len(units) == 1:
            u = next(iter(units))
            unit_desc += ", lower is better" if is_lower_better(u, w) else ", higher is better"
        lines.append(f"### {w} ({unit_desc})")
        lines.append("")
        head = ["impl", "unit", "warm", "runs", "spread", "cold", "runs", "spread"]
        head += [f"{wi} / impl, warm; cold" for wi in wefts]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:"]
                                    + ["---:"] * len(wefts)) + "|")
        for i in impls:
            e = med[w][i]
            unit = e["unit"]
            row = [f"**{i}**" if i in wefts else i, unit]
            for mode in ("warm", "cold"):
                if mode in e:
                    m, n, sp = e[mode]
                    row += [fmt_value(m, unit), str(n), f"{sp * 100:.0f}%" if sp is not None else "-"]
                else:
                    row += [mode_cell(e, mode, w), "0", "-"]
            for wi in wefts:
                if i in wefts:
                    row.append("-")
                    continue
                if med[w][wi]["unit"] != unit:
                    row.append("unit mismatch")
                    continue
                cells = []
                for mode in ("warm", "cold"):
                    if mode in e and mode in med[w][wi]:
                        cells.append(fmt_ratio(ratio(med[w][wi][mode][0], e[mode][0], unit, w)))
                    else:
                        cells.append("-")
                row.append("; ".join(cells))
            lines.append("| " + " | ".join(row) + " |")
        if not wefts:
            lines.append("")
            lines.append("_No weft result for this workload._")
        lines.append("")

    lines.append("Notes:")
    lines.append("")
    lines.append("- spread = (max - min) / median over the runs.")
    if any(w == "mt_ping_pong" for w in workloads):
        lines.append("- mt_ping_pong: weft-mt2's two tasks go where the scheduler puts them, as "
                     "tokio's and Go's do (which may keep both on one thread); weft-mt2-apart pins "
                     "them to different workers, so that every message crosses threads (tokio and "
                     "Go cannot pin).")
    for peer, reason in blog.skipped:
        lines.append(f"- skipped {peer}: {reason}")
    for peer, reason in blog.failed:
        lines.append(f"- BUILD FAILED {peer}: {reason}")
    for c in results.crashes:
        lines.append(f"- FAILED RUN {c}")
    for wmsg in results.warnings:
        lines.append(f"- warning: {wmsg}")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", required=True, type=Path,
                    help="where peers are built and results written")
    ap.add_argument("--weft-bin-dir", type=Path,
                    help="directory holding weft's bench_* executables")
    ap.add_argument("--reps", type=int, default=5, help="runs per program (default 5)")
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--peers", default="boost,libuv,tokio,go",
                    help="comma-separated peer families to build and run "
                         "(default: boost,libuv,tokio,go; empty: none)")
    ap.add_argument("--no-cold", action="store_true",
                    help="warm runs only (no BENCH_COLD=1 runs): quicker")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds before one program run counts as hung (default 120)")
    ap.add_argument("--pin", type=int, metavar="CPU",
                    help="run every benchmark process on this one CPU (sched_setaffinity); "
                         "default: no pinning")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be >= 1")
    only = {w.strip() for w in args.only.split(",") if w.strip()}
    which = {p.strip() for p in args.peers.split(",") if p.strip()}
    unknown = which - {"boost", "libuv", "tokio", "go"}
    if unknown:
        ap.error("unknown peer(s): " + ", ".join(sorted(unknown)))

    build_dir = args.build_dir.resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    wdir = args.weft_bin_dir.resolve() if args.weft_bin_dir else None

    exes, blog = build_peers(build_dir, which)

    env = dict(os.environ)
    env.update(RUN_ENV_EXTRA)
    for k in ("BENCH_COLD", "BENCH_VARIANT"):  # each run sets its own
        env.pop(k, None)
    results = Results()
    cold = not args.no_cold

    peer_jobs = []
    for exe in exes:
        names, err = list_peer_workloads(exe)
        if names is None:
            blog.fail(exe.name, f"`{exe.name} --list` failed: {err}")
            continue
        for w in names:
            if only and w not in only:
                continue
            peer_jobs += expand_jobs(Job(exe.name, [exe, w], w, False), env, only, cold,
                                     results.warnings)
    weft_jobs = []
    for j in collect_weft_jobs(wdir, only):
        weft_jobs += expand_jobs(j, env, only, cold, results.warnings)

    order = schedule(weft_jobs, peer_jobs)
    if args.pin is not None:
        # Inherited by every child started from here on.
        os.sched_setaffinity(0, {args.pin})
        log(f"== pinned to CPU {args.pin}")
    log(f"== running {len(order)} programs x {args.reps} repetitions "
        f"({sum(j.cold for j in order)} of them cold)")
    t_start = time.monotonic()
    for rep in range(args.reps):
        # Alternate the direction so no program always runs right after the
        # same neighbour or always at the same point of a repetition.
        seq = order if rep % 2 == 0 else list(reversed(order))
        for job in seq:
            run_job(job, rep, args.reps, args.timeout, env, only, results)
    log(f"== done in {time.monotonic() - t_start:.0f}s")
    for w in sorted(only, key=workload_rank):
        if not any(ww == w for (ww, _) in results.samples):
            results.warnings.append(f"--only {w}: no program reported this workload")

    report = build_report(machine_info(), toolchain_info(), args.reps, results, blog, only,
                          args.pin, cold)
    print(report)
    md = build_dir / "bench-results.md"
    md.write_text(report)
    raw = {
        "machine": machine_info(),
        "samples": [
            {"workload": w, "impl": i, "mode": "cold" if base_impl(i)[1] else "warm",
             "unit": results.units[(w, i)], "values": v}
            for (w, i), v in sorted(results.samples.items(),
                                    key=lambda kv: (workload_rank(kv[0][0]), kv[0][1]))
        ],
        "skipped": blog.skipped,
        "build_failed": blog.failed,
        "crashes": results.crashes,
        "warnings": results.warnings,
    }
    (build_dir / "bench-results.json").write_text(json.dumps(raw, indent=2) + "\n")
    log(f"== wrote {md} and {build_dir / 'bench-results.json'}")
    return 1 if (results.crashes or blog.failed) else 0


if __name__ == "__main__":
    sys.exit(main())
