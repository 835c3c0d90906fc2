// Go peer for weft's benchmark suite.
//
// Usage: peer_go <workload>   run one workload, print BENCH lines
//
//	peer_go --list       print the workload names this peer has
//
// The scheduler is restricted to one P (GOMAXPROCS=1) for every workload.
// Output lines: "BENCH <workload> <impl> <value> <unit>" (value as %.6g).
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

func report(workload, impl string, value float64, unit string) {
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
	spawnManyOnce() // warm-up
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
	yieldManyOnce()
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
	chainedSpawnOnce()
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
	pingPongOnce(0)
	d := pingPongOnce(0)
	report("ping_pong", "go", pingPongRounds/d.Seconds(), "roundtrips/s")
	pingPongOnce(1)
	d = pingPongOnce(1)
	report("ping_pong", "go-buffered1", pingPongRounds/d.Seconds(), "roundtrips/s")
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
	r := rng{0x9E3779B97F4A7C15}
	offsets := make([]time.Duration, numTimers)
	for i := range offsets {
		ms := r.next() % (timerMaxMs + 1)
		offsets[i] = time.Hour + time.Duration(ms)*time.Millisecond
	}
	timersOnce(offsets)
	runtime.GC()
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
	report("rss_per_sleeping_task", "go", (float64(after)-float64(before))/sleepingTasks, "bytes")
	os.Exit(0)
}

// ------------------------------------------------------------------ idle_rss

func idleRSS() {
	time.Sleep(idleTimerMillis * time.Millisecond)
	report("idle_rss", "go", float64(vmRSSBytes()), "bytes")
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
