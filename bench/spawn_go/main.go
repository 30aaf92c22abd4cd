// Spawning a program and waiting for it in Go, the peer of bench/spawn.lua:
// exec.Command("true").Run() N times, K goroutines at once.
//
//	go run bench/spawn_go/main.go N [K]
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

func run(count int) {
	for i := 0; i < count; i++ {
		if err := exec.Command("true").Run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

func main() {
	n, k := 2000, 1
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		k, _ = strconv.Atoi(os.Args[2])
	}
	run(10)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		count := n / k
		if i < n%k {
			count++
		}
		wg.Add(1)
		go func() { defer wg.Done(); run(count) }()
	}
	wg.Wait()
	fmt.Printf("spawn_per_sec %d %d %.0f\n", k, n, float64(n)/time.Since(t0).Seconds())
}
