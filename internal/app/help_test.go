package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/setup"
)

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	// No configuration anywhere: help must not need one.
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == "HOME" || k == "XDG_CONFIG_HOME" {
			return t.TempDir()
		}
		return ""
	}}
	code = Report(&errb, Run(t.Context(), env, "gsendmail", args))
	return code, out.String(), errb.String()
}

func TestEveryVerbPrintsItsUsageForHelpAndExitsZero(t *testing.T) {
	for _, verb := range cli.Verbs {
		for _, flag := range []string{"--help", "-h"} {
			for _, args := range [][]string{{verb, flag}, {"-C", "/nonexistent.toml", verb, flag}} {
				code, out, errs := runArgs(t, args...)
				if code != 0 {
					t.Errorf("gsendmail %s: exit %d, want 0 (stderr %q)", strings.Join(args, " "), code, errs)
				}
				if !strings.Contains(out, "usage: gsendmail") || (verb != "help" && !strings.Contains(out, "gsendmail "+verb)) {
					t.Errorf("gsendmail %s printed %q, want the usage of %q", strings.Join(args, " "), out, verb)
				}
			}
		}
	}
	// A sub-verb's --help is the verb's.
	if code, out, _ := runArgs(t, "auth", "login", "--help"); code != 0 || !strings.Contains(out, "auth login") {
		t.Errorf("auth login --help: exit %d, %q", code, out)
	}
	// After "--" it is an argument, not a request for help.
	if !wantsHelp([]string{"x", "-h"}) || wantsHelp([]string{"--", "--help"}) {
		t.Error("wantsHelp does not stop at --")
	}
}

func TestSetupHelpListsEveryFlag(t *testing.T) {
	_, out, _ := runArgs(t, "setup", "--help")
	for _, f := range setup.FlagNames() {
		if !strings.Contains(out, "-"+f) {
			t.Errorf("setup --help does not list -%s:\n%s", f, out)
		}
	}
}

func TestTopLevelHelpListsEveryVerb(t *testing.T) {
	code, out, _ := runArgs(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, verb := range cli.Verbs {
		if !strings.Contains(out, "gsendmail "+verb) && !strings.Contains(out, "| "+verb) {
			t.Errorf("--help does not list the verb %q:\n%s", verb, out)
		}
	}
}

func TestVerbWithoutOwnHelpTextGetsItsUsageLines(t *testing.T) {
	const verb = "queue"
	saved := verbUsage[verb]
	delete(verbUsage, verb)
	defer func() { verbUsage[verb] = saved }()
	got := verbHelp(verb)
	if !strings.Contains(got, "gsendmail queue list|flush|drop ID") {
		t.Errorf("fallback help = %q, want the top-level usage line of %q", got, verb)
	}
}
