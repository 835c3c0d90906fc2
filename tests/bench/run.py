#!/usr/bin/env python3
"""Benchmark runner: weft's bench_* programs against peer runtimes.

    python3 tests/bench/run.py --build-dir DIR --weft-bin-dir WDIR \
        [--reps N] [--only workload,...] [--peers boost,libuv,tokio,go] \
        [--timeout SECONDS] [--pin CPU]

1. Builds the peers under tests/bench/peers/ into DIR (nothing is written to
   the source tree). A peer whose toolchain or libraries are missing is
   reported as "skipped: <reason>" and left out.
2. Runs every executable in WDIR whose name starts with "bench_" (weft's
   benches, run without arguments) and every peer workload (one process per
   peer program and workload: `<peer> <workload>`), interleaved, N times.
3. Collects the lines `BENCH <workload> <impl> <value> <unit>` and prints,
   per workload, the median per impl and the ratio against each weft impl.
   The same report goes to DIR/bench-results.md; every sample goes to
   DIR/bench-results.json.

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

# Units for which a smaller number is better. Everything else (ops/s,
# tasks/s, ...) is treated as higher-is-better.
LOWER_IS_BETTER = {"ns", "us", "ms", "s", "bytes", "B", "KiB", "MiB", "kB", "KB", "MB"}
# Dimensionless ratios ("x") go either way; these are costs (a factor over a
# baseline), so smaller is better.
LOWER_IS_BETTER_WORKLOADS = {"sim_trace_cost", "select4_vs_recv"}

BENCH_RE = re.compile(r"^BENCH\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")

# Environment for every benchmark process. GOMAXPROCS=1 keeps the Go peer on
# one P even before its main() calls runtime.GOMAXPROCS(1); it is harmless
# for the others.
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
    return (WORKLOADS.index(name), "") if name in WORKLOADS else (len(WORKLOADS), name)


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
    def __init__(self, label, argv, workload, is_weft):
        self.label = label
        self.argv = [str(a) for a in argv]
        self.workload = workload  # None: unknown (a weft bench named otherwise)
        self.is_weft = is_weft


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
    alternating inside each workload; weft benches not tied to one workload
    are spread evenly over the whole sequence."""
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
        ws, ps = list(keyed_weft.get(w, [])), list(peers_by_w.get(w, []))
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
    head = f"[{rep + 1}/{reps}] {job.label}" + (f" {job.argv[1]}" if len(job.argv) > 1 else "")
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


def ratio(weft, peer, unit):
    if weft <= 0 or peer <= 0:
        return None
    return peer / weft if is_lower_better(unit) else weft / peer


def build_report(info, tools, reps, results, blog, only, pinned=None):
    lines = ["# weft benchmark comparison", ""]
    lines.append(f"- Date: {info['date']}")
    cores = f"{info['cores']} logical CPUs"
    if info["usable_cores"] != info["cores"]:
        cores += f" ({info['usable_cores']} usable)"
    lines.append(f"- CPU: {info['cpu']}, {cores}")
    lines.append(f"- Kernel: {info['kernel']}")
    if tools:
        lines.append("- Toolchains: " + ", ".join(f"{k} {v}" for k, v in tools.items()))
    lines.append(f"- Repetitions: {reps} (each program run once per repetition; "
                 "median of the runs shown)")
    if only:
        lines.append("- Workloads restricted to: " + ", ".join(sorted(only, key=workload_rank)))
    lines.append("- Every peer runs single-threaded (current-thread runtime, "
                 "one fiber scheduler thread, GOMAXPROCS=1).")
    if pinned is not None:
        lines.append(f"- All benchmark processes pinned to CPU {pinned}.")
    lines.append("")

    workloads = sorted({w for (w, _) in results.samples}, key=workload_rank)
    if not workloads:
        lines.append("No results.")
    for w in workloads:
        impls = [i for (ww, i) in results.samples if ww == w]
        wefts = sorted(i for i in impls if is_weft_impl(i))
        others = sorted(i for i in impls if not is_weft_impl(i))
        units = {results.units[(w, i)] for i in impls}
        unit_desc = ", ".join(sorted(units))
        if len(units) == 1:
            u = next(iter(units))
            unit_desc += ", lower is better" if is_lower_better(u, w) else ", higher is better"
        lines.append(f"## {w} ({unit_desc})")
        lines.append("")
        head = ["impl", "median", "unit", "runs", "spread"]
        head += [f"{wi} vs peer" for wi in wefts]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---", "---:", "---", "---:", "---:"]
                                    + ["---:"] * len(wefts)) + "|")
        med = {}
        for i in wefts + others:
            vals = results.samples[(w, i)]
            med[i] = statistics.median(vals)
        for i in wefts + others:
            vals = results.samples[(w, i)]
            unit = results.units[(w, i)]
            m = med[i]
            spread = f"{(max(vals) - min(vals)) / abs(m) * 100:.0f}%" if m and len(vals) > 1 else "-"
            row = [f"**{i}**" if i in wefts else i, fmt_value(m, unit), unit,
                   str(len(vals)), spread]
            for wi in wefts:
                if i in wefts:
                    row.append("-")
                    continue
                if results.units[(w, wi)] != unit:
                    row.append("unit mismatch")
                    continue
                r = ratio(med[wi], m, unit)
                row.append(f"{r:.2f}x" if r is not None else "n/a")
            lines.append("| " + " | ".join(row) + " |")
        if not wefts:
            lines.append("")
            lines.append("_No weft result for this workload._")
        lines.append("")

    lines.append("Notes:")
    lines.append("")
    lines.append("- \"weft… vs peer\" columns: weft/peer for higher-is-better units (ops/s, "
                 "tasks/s, ...), peer/weft for lower-is-better units (ns, bytes), so a "
                 "ratio above 1 always means weft is better.")
    lines.append("- spread = (max - min) / median over the runs.")
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

    peer_jobs = []
    for exe in exes:
        names, err = list_peer_workloads(exe)
        if names is None:
            blog.fail(exe.name, f"`{exe.name} --list` failed: {err}")
            continue
        for w in names:
            if only and w not in only:
                continue
            peer_jobs.append(Job(exe.name, [exe, w], w, False))
    weft_jobs = collect_weft_jobs(wdir, only)

    order = schedule(weft_jobs, peer_jobs)
    if args.pin is not None:
        # Inherited by every child started from here on.
        os.sched_setaffinity(0, {args.pin})
        log(f"== pinned to CPU {args.pin}")
    env = dict(os.environ)
    env.update(RUN_ENV_EXTRA)
    results = Results()
    log(f"== running {len(order)} programs x {args.reps} repetitions")
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
                          args.pin)
    print(report)
    md = build_dir / "bench-results.md"
    md.write_text(report)
    raw = {
        "machine": machine_info(),
        "samples": [
            {"workload": w, "impl": i, "unit": results.units[(w, i)], "values": v}
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
