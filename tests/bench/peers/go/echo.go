// bench_echo's Go peer: an echo server on 127.0.0.1 (prints "PORT <n>",
// serves until killed), a goroutine per connection, on `procs` Ps.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
)

func echoServer(procs int) {
	runtime.GOMAXPROCS(procs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer_go: listen:", err)
		os.Exit(1)
	}
	fmt.Printf("PORT %d\n", l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}(c)
	}
}
