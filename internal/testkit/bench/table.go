package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Row is one line of the result table.
type Row struct {
	Scenario string
	G, M     string // gsendmail's and msmtp's figures, already formatted
	Ratio    string // gsendmail / msmtp, or "n/a"
	Target   string
	Met      string // "yes", "no", or "n/a"
}

// Ratio formats g/m with two decimals, or "n/a" when m is 0.
func Ratio(g, m float64) string {
	if m == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", g/m)
}

// YesNo formats a target check.
func YesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// WriteTable writes rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| scenario | gsendmail | msmtp | ratio g/m | target | met? |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", cell(r.Scenario), cell(r.G), cell(r.M), cell(r.Ratio), cell(r.Target), cell(r.Met))
	}
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// Machine describes where the benchmark ran.
type Machine struct {
	CPU, Kernel, Go, Msmtp, Postfix string
	Cores                           int
}

// DescribeMachine reads /proc/cpuinfo, uname and the tools' versions.
func DescribeMachine(msmtpPath string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	m.Kernel = firstLine(exec.Command("uname", "-srm"))
	m.Msmtp = firstLine(exec.Command(msmtpPath, "--version"))
	m.Postfix = firstLine(exec.Command("/usr/sbin/postconf", "-d", "-h", "mail_version"))
	if m.Postfix != "" {
		m.Postfix = "Postfix " + m.Postfix
	}
	return m
}

func firstLine(c *exec.Cmd) string {
	out, err := c.Output()
	if err != nil {
		return "unknown"
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// Write prints the machine as a Markdown list.
func (m Machine) Write(w io.Writer) {
	fmt.Fprintf(w, "- CPU: %s, %d cores\n- kernel: %s\n- Go: %s\n- msmtp: %s\n- server: %s + Dovecot (internal/testkit/testenv/mailserver), loopback\n",
		m.CPU, m.Cores, m.Kernel, m.Go, m.Msmtp, m.Postfix)
}
