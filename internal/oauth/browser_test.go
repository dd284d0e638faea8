package oauth

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeBrowser writes a script that records its arguments in out.
func fakeBrowser(t *testing.T, dir, name string) (path, out string) {
	t.Helper()
	out = filepath.Join(dir, name+".args")
	path = filepath.Join(dir, name)
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + out + ".tmp && mv " + out + ".tmp " + out + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, out
}

func waitFile(t *testing.T, p string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s was not started", filepath.Base(p))
	return ""
}

func TestOpenBrowserHonoursBROWSERBeforeXdgOpen(t *testing.T) {
	dir := t.TempDir()
	browser, args := fakeBrowser(t, dir, "mybrowser")
	xdg, xdgArgs := fakeBrowser(t, dir, "xdg-open")
	_ = xdg
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	const u = "https://auth.example/authorize?a=1&b=2;echo pwned"
	t.Setenv("BROWSER", "/nonexistent/browser:"+browser+" --new-window")
	if err := OpenBrowser(u); err != nil {
		t.Fatal(err)
	}
	if got := waitFile(t, args); got != "--new-window\n"+u+"\n" {
		t.Errorf("$BROWSER got arguments %q, want --new-window and the URL as one argument", got)
	}
	if _, err := os.Stat(xdgArgs); err == nil {
		t.Error("xdg-open was started although $BROWSER worked")
	}
}

func TestBROWSERPercentSIsReplacedByTheURL(t *testing.T) {
	dir := t.TempDir()
	browser, args := fakeBrowser(t, dir, "b")
	const u = "http://127.0.0.1:1/x"
	if err := openWithBrowserEnv(u, browser+" --url=%s --flag"); err != nil {
		t.Fatal(err)
	}
	if got := waitFile(t, args); got != "--url="+u+"\n--flag\n" {
		t.Errorf("arguments %q", got)
	}
	if err := openWithBrowserEnv(u, "/nonexistent:"); err == nil || !strings.Contains(err.Error(), "BROWSER") {
		t.Errorf("no usable $BROWSER: %v", err)
	}
}

func TestOpenBrowserFallsBackToXdgOpenWithoutBROWSER(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("xdg-open is the opener of the other systems")
	}
	dir := t.TempDir()
	_, xdgArgs := fakeBrowser(t, dir, "xdg-open")
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	t.Setenv("BROWSER", "")
	if err := OpenBrowser("http://127.0.0.1:1/"); err != nil {
		t.Fatal(err)
	}
	if got := waitFile(t, xdgArgs); got != "http://127.0.0.1:1/\n" {
		t.Errorf("xdg-open got %q", got)
	}
}
