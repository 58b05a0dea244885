package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// natsNode is one nats-server process of a test cluster, built from the
// nats-server module; it can be killed and restarted on the same ports,
// with its data kept or wiped.
type natsNode struct {
	name       string
	conf, data string
	port       int
	cmd        *exec.Cmd
	done       chan struct{}
}

// natsCluster is n nats-server processes on loopback: clustered (JetStream
// R3, sync_interval: always) when n is 3, a single server when n is 1.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startCluster(t *testing.T, n int) *natsCluster {
	dir := t.TempDir()
	c := &natsCluster{t: t}
	clusterPorts := make([]int, n)
	for i := range n {
		clusterPorts[i] = freePort(t)
	}
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	for i := range n {
		node := &natsNode{name: fmt.Sprintf("n%d", i+1), port: freePort(t), data: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q, sync_interval: always }\n",
			node.name, node.port, node.data)
		if n > 1 {
			conf += fmt.Sprintf("cluster { name: chaos, listen: 127.0.0.1:%d, routes: [%s] }\n", clusterPorts[i], strings.Join(routes, ", "))
		}
		node.conf = filepath.Join(dir, node.name+".conf")
		if err := os.WriteFile(node.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
		c.start(node)
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			c.kill(node)
		}
	})
	return c
}

func (c *natsCluster) start(node *natsNode) {
	node.cmd = exec.Command(filepath.Join(binDir, "nats-server"), "-c", node.conf)
	node.done = make(chan struct{})
	if err := node.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", node.name, err)
	}
	go func() { _ = node.cmd.Wait(); close(node.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", node.port))
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not accepting connections within 10s", node.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops a node with SIGKILL.
func (c *natsCluster) kill(node *natsNode) {
	if node.cmd == nil {
		return
	}
	select {
	case <-node.done:
	default:
		_ = node.cmd.Process.Kill()
		<-node.done
	}
	node.cmd = nil
}

// wipe removes a stopped node's JetStream data.
func (c *natsCluster) wipe(node *natsNode) {
	if err := os.RemoveAll(node.data); err != nil {
		c.t.Fatal(err)
	}
}

func (n *natsNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.port) }

// urls is the client URL list of every node.
func (c *natsCluster) urls() string {
	var us []string
	for _, n := range c.nodes {
		us = append(us, "nats://"+n.addr())
	}
	return strings.Join(us, ",")
}
