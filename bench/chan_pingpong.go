// Channel ping-pong in Go, the peer of bench/chan_pingpong.lua: two
// goroutines bounce a value over two unbuffered channels N times.
//
//	go run bench/chan_pingpong.go [N]
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	ping, pong := make(chan int), make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	fmt.Printf("round_trips_per_sec %.0f\n", float64(n)/time.Since(t0).Seconds())
}
