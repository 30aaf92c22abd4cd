// go_echo: the Go peer of the luds echo benchmark. Written the way Go
// servers are: net.Listen or net.ListenPacket, one goroutine per
// connection, the runtime's netpoller underneath.
//
//	go_echo unix|unixgram|unixpacket PATH
//
// SIGTERM/SIGINT close the socket, remove PATH and exit 0.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// Largest message echoed whole on a datagram or seqpacket socket.
const maxMessage = 64 * 1024

func die(err error) {
	fmt.Fprintln(os.Stderr, "go_echo:", err)
	os.Exit(1)
}

// echoStream copies the connection to itself with io.Copy's buffer.
func echoStream(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
}

// echoPackets reads one message at a time and writes it back as one.
func echoPackets(c net.Conn) {
	defer c.Close()
	buf := make([]byte, maxMessage)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func serveConns(ln net.Listener, echo func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue // e.g. out of descriptors: try again
		}
		go echo(c)
	}
}

// serveDatagrams sends every datagram back to its sender.
func serveDatagrams(pc net.PacketConn) {
	buf := make([]byte, maxMessage)
	for {
		n, from, err := pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || from == nil {
			continue
		}
		pc.WriteTo(buf[:n], from)
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_echo unix|unixgram|unixpacket PATH")
		os.Exit(2)
	}
	kind, path := os.Args[1], os.Args[2]
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		die(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	var sock io.Closer
	switch kind {
	case "unix", "unixpacket":
		ln, err := net.Listen(kind, path)
		if err != nil {
			die(err)
		}
		echo := echoStream
		if kind == "unixpacket" {
			echo = echoPackets
		}
		go serveConns(ln, echo)
		sock = ln
	case "unixgram":
		pc, err := net.ListenPacket(kind, path)
		if err != nil {
			die(err)
		}
		go serveDatagrams(pc)
		sock = pc
	default:
		fmt.Fprintln(os.Stderr, "usage: go_echo unix|unixgram|unixpacket PATH")
		os.Exit(2)
	}
	fmt.Println("listening on", path)

	<-stop
	sock.Close() // a listener removes its socket file; a packet conn does not
	os.Remove(path)
}
