package queue_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mountOnce sync.Once
	mountErr  error
)

// requireMount checks once per test process that a tmpfs can be mounted
// here (root with CAP_SYS_ADMIN; not a normal user, not most containers)
// and skips the test cleanly when it cannot, before any part of it runs.
// As root under GSENDMAIL_REQUIRE_REAL_SERVERS=1 (the CI machine) a
// failing mount is a broken test machine and fails the test.
func requireMount(t *testing.T) {
	t.Helper()
	mountOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gsendmail-mountcheck-")
		if err != nil {
			mountErr = err
			return
		}
		defer os.Remove(dir)
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir).CombinedOutput()
		if err != nil {
			mountErr = fmt.Errorf("cannot mount a small tmpfs (needs CAP_SYS_ADMIN): %v: %s", err, strings.Join(strings.Fields(string(out)), " "))
			return
		}
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			mountErr = fmt.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	if mountErr == nil {
		return
	}
	if os.Geteuid() == 0 && os.Getenv("GSENDMAIL_REQUIRE_REAL_SERVERS") == "1" {
		t.Fatal(mountErr)
	}
	t.Skip(mountErr)
}

// smallDisk mounts a tmpfs of size bytes and returns its path; it is
// unmounted when the test ends. Call requireMount first.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("cannot mount a small tmpfs although the check could: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// bigMessage is message(marker) with a body padded to about size bytes.
func bigMessage(marker string, size int) string {
	m := message(marker)
	line := strings.Repeat("x", 76) + "\n"
	var b strings.Builder
	b.WriteString(m)
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.String()
}

// TestEnqueueOnAFullDiskFailsWith75AndLeavesNothing queues messages of
// growing size onto a 128 KiB file system while the server answers 451.
// Each run must either queue the message whole (exit 0, envelope and
// message of the right size) or report that it could not be queued (exit
// 75, one line on stderr) and leave neither an entry nor a temporary file
// behind. The 1 MiB message can never fit.
func TestEnqueueOnAFullDiskFailsWith75AndLeavesNothing(t *testing.T) {
	requireMount(t)
	srv := startFaultServer(t, nil, false, fault{point: ptMAIL, reply: "451"})
	const disk = 128 << 10
	sizes := []int{1 << 20}
	for s := 100 << 10; s <= 140<<10; s += 4 << 10 {
		sizes = append(sizes, s)
	}
	queuedN, refused := 0, 0
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%dB", size), func(t *testing.T) {
			state := smallDisk(t, disk)
			h := newHome(t, plainConfig(srv.port(), "queue = true"))
			h.state = state
			marker := fmt.Sprintf("full-%d", size)
			r := h.run(t, bigMessage(marker, size), "-i", rcptAddr)
			ids := h.queued(t)
			switch r.Code {
			case 0:
				queuedN++
				q := queuedMarkers(t, h.queueDir())
				if len(ids) != 1 || q[marker] != 1 {
					t.Fatalf("exit 0 but the queue holds %v (%v); stderr %q", ids, q, r.Stderr)
				}
				if size > disk {
					t.Errorf("a %d-byte message was reported queued on a %d-byte file system", size, disk)
				}
			case 75:
				refused++
				if len(ids) != 0 {
					t.Errorf("exit 75 (not queued) but the queue holds %v: it would be sent although the caller retries", ids)
				}
				lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
				if len(lines) != 1 || !strings.Contains(r.Stderr, "could not be queued") {
					t.Errorf("stderr %q: want one line saying the message could not be queued", r.Stderr)
				}
			default:
				t.Fatalf("exit %d, want 0 (queued) or 75 (not queued); stderr %q", r.Code, r.Stderr)
			}
			des, _ := os.ReadDir(h.queueDir())
			for _, de := range des {
				if strings.HasPrefix(de.Name(), ".tmp-") {
					t.Errorf("temporary file %s left in the queue", filepath.Join(h.queueDir(), de.Name()))
				}
				if strings.HasSuffix(de.Name(), ".msg") && len(ids) == 0 {
					t.Errorf("message file %s left without an envelope", de.Name())
				}
			}
		})
	}
	t.Logf("disk full: %d sizes, %d queued whole, %d refused with 75", len(sizes), queuedN, refused)
	if refused == 0 {
		t.Errorf("no run hit the full disk; the test did not test anything")
	}
}
