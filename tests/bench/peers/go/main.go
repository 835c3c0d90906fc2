// Go peer for weft's benchmark suite.
//
// Usage: peer_go <workload>   run one workload, print BENCH lines
//
//	peer_go --list       print the workload names this peer has
//
// The scheduler is restricted to one P (GOMAXPROCS=1) for every single-thread
// workload; the mt_* workloads (bench_mt's, in mt.go) run with GOMAXPROCS 1
// and 2 (impls go-mt1, go-mt2).
// Output lines: "BENCH <workload> <impl> <value> <unit>" (value as %.6g).
//
// Environment, as for every bench program (tests/bench/bench.h):
//
//	BENCH_COLD=1        no warm-up pass, the first pass is the timed one, and
//	                    every impl gets the suffix "-cold". rss_per_sleeping_task
//	                    and idle_rss ignore it (measured once, no warm-up, anyway).
//	BENCH_VARIANT=k     make only the k-th measurement of the workload (0-based).
//	BENCH_VARIANT=list  print "VARIANT <workload> <impl>" per measurement
//	                    instead of measuring.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	spawnManyTasks  = 1_000_000
	yieldTasks      = 1_000
	yieldsPerTask   = 1_000
	chainDepth      = 1_000_000
	pingPongRounds  = 1_000_000
	numTimers       = 1_000_000
	timerMaxMs      = 1_000
	sleepingTasks   = 100_000
	idleTimerMillis = 50
)

// cold is BENCH_COLD=1: no warm-up, "-cold" on every impl.
var cold = os.Getenv("BENCH_COLD") == "1"

func implName(impl string) string {
	if cold {
		return impl + "-cold"
	}
	return impl
}

var variantNext = 0

// variant says whether to make the next measurement (see BENCH_VARIANT
// above); called once before each measurement, in order, also for those
// skipped.
func variant(workload, impl string) bool {
	k := variantNext
	variantNext++
	v := os.Getenv("BENCH_VARIANT")
	switch {
	case v == "":
		return true
	case v == "list":
		fmt.Printf("VARIANT %s %s\n", workload, implName(impl))
		return false
	}
	want, err := strconv.Atoi(v)
	if err != nil || want < 0 {
		fmt.Fprintf(os.Stderr, "peer_go: BENCH_VARIANT=%s: want a number or \"list\"\n", v)
		os.Exit(2)
	}
	return want == k
}

// report prints a result line; "-cold" is appended to the impl when cold.
func report(workload, impl string, value float64, unit string) {
	reportRaw(workload, implName(impl), value, unit)
}

// reportRaw prints a result line of a workload that has no cold mode.
func reportRaw(workload, impl string, value float64, unit string) {
	fmt.Printf("BENCH %s %s %s %s\n", workload, impl, strconv.FormatFloat(value, 'g', 6, 64), unit)
}

// vmRSSBytes reads VmRSS from /proc/self/status.
func vmRSSBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line[len("VmRSS:"):])
			kb, err := strconv.ParseUint(fields[0], 10, 64)
			if err != nil {
				panic(err)
			}
			return kb * 1024
		}
	}
	panic("no VmRSS line")
}

// xorshift64*, same generator and seed as the other peers.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	x := r.s
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	r.s = x
	return x * 0x2545F4914F6CDD1D
}

// ---------------------------------------------------------------- spawn_many

func spawnManyOnce() time.Duration {
	var wg sync.WaitGroup
	var counter int64
	t0 := time.Now()
	wg.Add(spawnManyTasks)
	for i := 0; i < spawnManyTasks; i++ {
		go func() {
			atomic.AddInt64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if counter != spawnManyTasks {
		panic("spawn_many: lost tasks")
	}
	return d
}

func spawnMany() {
	if !variant("spawn_many", "go") {
		return
	}
	if !cold {
		spawnManyOnce() // warm-up
	}
	d := spawnManyOnce()
	report("spawn_many", "go", spawnManyTasks/d.Seconds(), "tasks/s")
}

// ---------------------------------------------------------------- yield_many

func yieldManyOnce() time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(yieldTasks)
	for i := 0; i < yieldTasks; i++ {
		go func() {
			for j := 0; j < yieldsPerTask; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

func yieldMany() {
	if !variant("yield_many", "go") {
		return
	}
	if !cold {
		yieldManyOnce()
	}
	d := yieldManyOnce()
	report("yield_many", "go", float64(yieldTasks*yieldsPerTask)/d.Seconds(), "yields/s")
}

// ------------------------------------------------------------- chained_spawn

func chain(n int, done chan<- struct{}) {
	if n == 0 {
		done <- struct{}{}
		return
	}
	go chain(n-1, done)
}

func chainedSpawnOnce() time.Duration {
	done := make(chan struct{})
	t0 := time.Now()
	go chain(chainDepth, done)
	<-done
	return time.Since(t0)
}

func chainedSpawn() {
	if !variant("chained_spawn", "go") {
		return
	}
	if !cold {
		chainedSpawnOnce()
	}
	d := chainedSpawnOnce()
	report("chained_spawn", "go", chainDepth/d.Seconds(), "tasks/s")
}

// ----------------------------------------------------------------- ping_pong

func pingPongOnce(capacity int) time.Duration {
	ping := make(chan int, capacity)
	pong := make(chan int, capacity)
	finished := make(chan struct{})
	go func() {
		for v := range ping {
			pong <- v
		}
		close(finished)
	}()
	t0 := time.Now()
	for i := 0; i < pingPongRounds; i++ {
		ping <- i
		if v := <-pong; v != i {
			panic("ping_pong: wrong value")
		}
	}
	d := time.Since(t0)
	close(ping)
	<-finished
	return d
}

func pingPong() {
	if variant("ping_pong", "go") {
		if !cold {
			pingPongOnce(0)
		}
		d := pingPongOnce(0)
		report("ping_pong", "go", pingPongRounds/d.Seconds(), "roundtrips/s")
	}
	if variant("ping_pong", "go-buffered1") {
		if !cold {
			pingPongOnce(1)
		}
		d := pingPongOnce(1)
		report("ping_pong", "go-buffered1", pingPongRounds/d.Seconds(), "roundtrips/s")
	}
}

// -------------------------------------------------------------------- timers
// time.AfterFunc (insert into the P's timer heap) then Stop on every other
// one. All deadlines get one extra hour so that none can fire while the
// timed section runs (the scheduler would run expired timers on its own);
// their relative order is the same as the 0..1000 ms draw.

func timersOnce(offsets []time.Duration) time.Duration {
	timers := make([]*time.Timer, len(offsets))
	f := func() {}
	t0 := time.Now()
	for i, off := range offsets {
		timers[i] = time.AfterFunc(off, f)
	}
	for i := 0; i < len(timers); i += 2 {
		timers[i].Stop()
	}
	d := time.Since(t0)
	for i := 1; i < len(timers); i += 2 {
		timers[i].Stop()
	}
	return d
}

func timers() {
	if !variant("timers", "go") {
		return
	}
	r := rng{0x9E3779B97F4A7C15}
	offsets := make([]time.Duration, numTimers)
	for i := range offsets {
		ms := r.next() % (timerMaxMs + 1)
		offsets[i] = time.Hour + time.Duration(ms)*time.Millisecond
	}
	if !cold {
		timersOnce(offsets)
		runtime.GC()
	}
	d := timersOnce(offsets)
	report("timers", "go", float64(numTimers+numTimers/2)/d.Seconds(), "ops/s")
}

// ----------------------------------------------------- rss_per_sleeping_task

func rssPerSleepingTask() {
	var started int64
	before := vmRSSBytes()
	for i := 0; i < sleepingTasks; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			time.Sleep(time.Hour)
		}()
	}
	for atomic.LoadInt64(&started) < sleepingTasks {
		runtime.Gosched()
	}
	// One more pass so the last goroutine is parked in Sleep too.
	runtime.Gosched()
	after := vmRSSBytes()
	// No cold mode: measured once, without warm-up.
	reportRaw("rss_per_sleeping_task", "go", (float64(after)-float64(before))/sleepingTasks, "bytes")
	os.Exit(0)
}

// ------------------------------------------------------------------ idle_rss

func idleRSS() {
	time.Sleep(idleTimerMillis * time.Millisecond)
	// No cold mode: measured once, in a fresh process.
	reportRaw("idle_rss", "go", float64(vmRSSBytes()), "bytes")
}

var workloads = []struct {
	name string
	fn   func()
}{
	{"spawn_many", spawnMany},
	{"yield_many", yieldMany},
	{"chained_spawn", chainedSpawn},
	{"ping_pong", pingPong},
	{"timers", timers},
	{"rss_per_sleeping_task", rssPerSleepingTask},
	{"idle_rss", idleRSS},
	{"mt_spawn_many", mtSpawnMany},
	{"mt_yield_many", mtYieldMany},
	{"mt_chained_spawn", mtChainedSpawn},
	{"mt_ping_pong", mtPingPong},
	{"mt_fanout", mtFanout},
}

func main() {
	runtime.GOMAXPROCS(1)
	arg := ""
	if len(os.Args) > 1 {
		arg = os.Args[1]
	}
	if arg == "echo_server" {
		procs := 1
		if len(os.Args) > 2 {
			if n, err := strconv.Atoi(os.Args[2]); err == nil && n > 0 {
				procs = n
			}
		}
		echoServer(procs)
		return
	}
	if arg == "--list" {
		for _, w := range workloads {
			fmt.Println(w.name)
		}
		return
	}
	for _, w := range workloads {
		if w.name == arg {
			w.fn()
			return
		}
	}
	fmt.Fprintln(os.Stderr, "usage: peer_go <workload>|--list")
	os.Exit(2)
}
