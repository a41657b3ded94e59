package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// infoPort dials addr and returns the port its INFO announces.
func infoPort(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	var info struct {
		Port int `json:"port"`
	}
	body, ok := strings.CutPrefix(strings.TrimSpace(line), "INFO ")
	if !ok {
		return 0, fmt.Errorf("not an INFO: %q", line)
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		return 0, err
	}
	return info.Port, nil
}

// During a client port move, INFO announces the new listener: to a client
// that connects to the new port, and to one that still reaches the old
// listener before it closes. After the move only the new port answers.
func TestPortMoveAnnouncesNewListener(t *testing.T) {
	p1, p2 := testutil.FreePort(t), testutil.FreePort(t)
	conf := func(port int) string { return fmt.Sprintf("listen: 127.0.0.1:%d\n", port) }
	td := startDaemon(t, conf(p1))
	if got, err := infoPort(fmt.Sprintf("127.0.0.1:%d", p1)); err != nil || got != p1 {
		t.Fatalf("before the move: INFO port %d, %v; want %d", got, err, p1)
	}

	var during []string
	td.hooks.beforeStopOld = func(name string) {
		if name != "client" {
			return
		}
		// Both listeners are open now. Several tries each: the server must
		// announce the newest, not whichever it finds first.
		for i := range 20 {
			for _, port := range []int{p1, p2} {
				got, err := infoPort(fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil || got != p2 {
					during = append(during, fmt.Sprintf("try %d via port %d: INFO port %d (%v)", i, port, got, err))
				}
			}
		}
	}
	td.mustReload(conf(p2))
	if len(during) > 0 {
		t.Errorf("with both listeners open, INFO did not announce the new port %d:\n%s", p2, strings.Join(during, "\n"))
	}
	if got, err := infoPort(fmt.Sprintf("127.0.0.1:%d", p2)); err != nil || got != p2 {
		t.Fatalf("after the move: INFO port %d, %v; want %d", got, err, p2)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p1), time.Second); err == nil {
		c.Close()
		t.Fatal("the old client port still accepts after the move")
	}
}
