// bench_mt's workloads (tests/bench/bench_mt.c, same sizes) with GOMAXPROCS
// 1 and 2 (impls go-mt1, go-mt2): runtime.GOMAXPROCS(n) is set before each
// variant, whatever GOMAXPROCS run.py put in the environment. Warm-up pass
// first unless cold. Go cannot pin a goroutine to a P: mt_ping_pong's two
// goroutines go where the scheduler puts them (bench_mt pins its two tasks to
// different workers when it has 2). The workload runs on the main goroutine.
package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	mtSpawnTasks = 1_000_000
	mtYieldTasks = 1_000
	mtYields     = 1_000
	mtChain      = 100_000
	mtRoundTrips = 100_000
	mtFanTasks   = 64
	mtFanWork    = 2_000_000
)

// mtMeasure runs once with 1 and then 2 Ps: warm-up unless cold, then the
// timed pass; reports count / seconds.
func mtMeasure(workload, unit string, count float64, once func() time.Duration) {
	for procs := 1; procs <= 2; procs++ {
		impl := "go-mt" + string(rune('0'+procs))
		if !variant(workload, impl) {
			continue
		}
		runtime.GOMAXPROCS(procs)
		if !cold {
			once()
		}
		d := once()
		report(workload, impl, count/d.Seconds(), unit)
	}
	runtime.GOMAXPROCS(1)
}

func mtSpawnManyOnce() time.Duration {
	var left int64 = mtSpawnTasks
	done := make(chan struct{})
	t0 := time.Now()
	for i := 0; i < mtSpawnTasks; i++ {
		go func() {
			if atomic.AddInt64(&left, -1) == 0 {
				close(done)
			}
		}()
	}
	<-done
	return time.Since(t0)
}

func mtYieldManyOnce() time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(mtYieldTasks)
	for i := 0; i < mtYieldTasks; i++ {
		go func() {
			for j := 0; j < mtYields; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

func mtChainedSpawnOnce() time.Duration {
	done := make(chan struct{})
	t0 := time.Now()
	go chain(mtChain, done)
	<-done
	return time.Since(t0)
}

// Capacity-1 channels, as bench_mt's.
func mtPingPongOnce() time.Duration {
	ping := make(chan uint64, 1)
	pong := make(chan uint64, 1)
	finished := make(chan struct{})
	t0 := time.Now()
	go func() {
		for i := 0; i < mtRoundTrips; i++ {
			pong <- <-ping
		}
		close(finished)
	}()
	for i := uint64(0); i < mtRoundTrips; i++ {
		ping <- i
		if v := <-pong; v != i {
			panic("mt_ping_pong: wrong value came back")
		}
	}
	<-finished
	return time.Since(t0)
}

func mtWork(i uint64) uint64 {
	x := i | 1
	for j := 0; j < mtFanWork; j++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x >> 40
}

func mtFanoutOnce() time.Duration {
	var wg sync.WaitGroup
	results := make([]uint64, mtFanTasks)
	t0 := time.Now()
	wg.Add(mtFanTasks)
	for i := 0; i < mtFanTasks; i++ {
		go func(i int) {
			results[i] = mtWork(uint64(i))
			wg.Done()
		}(i)
	}
	wg.Wait()
	var sum uint64
	for _, r := range results {
		sum += r
	}
	d := time.Since(t0)
	if sum == 0 {
		panic("mt_fanout: no work done")
	}
	return d
}

func mtSpawnMany() {
	mtMeasure("mt_spawn_many", "tasks/s", mtSpawnTasks, mtSpawnManyOnce)
}

func mtYieldMany() {
	mtMeasure("mt_yield_many", "yields/s", mtYieldTasks*mtYields, mtYieldManyOnce)
}

func mtChainedSpawn() {
	mtMeasure("mt_chained_spawn", "tasks/s", mtChain, mtChainedSpawnOnce)
}

func mtPingPong() {
	mtMeasure("mt_ping_pong", "round-trips/s", mtRoundTrips, mtPingPongOnce)
}

func mtFanout() {
	mtMeasure("mt_fanout", "items/s", mtFanTasks*mtFanWork, mtFanoutOnce)
}
