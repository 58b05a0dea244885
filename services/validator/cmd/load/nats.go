package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// startNATS runs n nats-server processes from bin on loopback, each with
// JetStream and sync_interval: always: one server when n is 1, a cluster
// of n (the token stream then has n replicas, the production shape) when
// it is more. It returns the processes and the client URL list.
func startNATS(cfg config, n int) ([]*proc, string, error) {
	ports := make([]string, 2*n) // client, then cluster, of each server
	for i := range ports {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		ports[i] = addr
	}
	var routes, urls []string
	for i := range n {
		routes = append(routes, "nats-route://"+ports[n+i])
		urls = append(urls, "nats://"+ports[i])
	}
	var procs []*proc
	stop := func() {
		for _, p := range procs {
			p.stop()
		}
	}
	for i := range n {
		name := fmt.Sprintf("nats%d", i+1)
		conf := fmt.Sprintf("server_name: %s\nlisten: %s\njetstream { store_dir: %q, sync_interval: always }\n",
			name, ports[i], filepath.Join(cfg.dir, name))
		if n > 1 {
			conf += fmt.Sprintf("cluster { name: load, listen: %s, routes: [%s] }\n", ports[n+i], strings.Join(routes, ", "))
		}
		file := filepath.Join(cfg.dir, name+".conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			stop()
			return nil, "", err
		}
		p, err := startQuiet(name, filepath.Join(cfg.bin, "nats-server"), logPath(cfg, name), "-c", file)
		if err != nil {
			stop()
			return nil, "", err
		}
		procs = append(procs, p)
	}
	for i, p := range procs {
		if err := waitListening(ports[i], 30*time.Second); err != nil {
			stop()
			return nil, "", fmt.Errorf("%s: %w; see %s", p.name, err, logPath(cfg, p.name))
		}
	}
	return procs, strings.Join(urls, ","), nil
}

// waitListening polls addr until it accepts a connection.
func waitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not accepting connections on %s within %s", addr, within)
}
