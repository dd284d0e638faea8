package mancheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/setup"
	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

func readPage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.ModuleRoot(), "man", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tagged returns the arguments of every ".It" line: the tagged items of
// the page's lists, with mdoc macros and punctuation removed, as words.
func tagged(page string) map[string]bool {
	words := map[string]bool{}
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, ".It ") {
			continue
		}
		for _, w := range strings.Fields(line[4:]) {
			words[w] = true
		}
	}
	return words
}

// flagsIn returns every option written with the Fl macro anywhere in the
// page: "Fl t" gives "-t", "Fl Fl pretend" gives "--pretend", "Fl bs" gives
// "-bs".
func flagsIn(page string) map[string]bool {
	out := map[string]bool{}
	re := regexp.MustCompile(`\bFl (Fl )?([A-Za-z0-9][A-Za-z0-9-]*)`)
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		if m[1] != "" {
			out["--"+m[2]] = true
		} else {
			out["-"+m[2]] = true
		}
	}
	return out
}

func TestEveryConfigKeyIsATaggedItemOfTheTomlPage(t *testing.T) {
	items := tagged(readPage(t, "gsendmail.toml.5"))
	keys := append(config.Keys(), config.ServeKeys()...)
	if len(keys) < 40 {
		t.Fatalf("config.Keys() returned only %d keys", len(keys))
	}
	for _, k := range keys {
		if !items[k] {
			t.Errorf("config key %q is not documented as \".It Cm %s\" in man/gsendmail.toml.5", k, k)
		}
	}
}

func TestEveryDocumentedKeyExists(t *testing.T) {
	page := readPage(t, "gsendmail.toml.5")
	re := regexp.MustCompile(`(?m)^\.It Cm ([a-z_]+)`)
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		if !slices.Contains(config.Keys(), m[1]) && !slices.Contains(config.ServeKeys(), m[1]) {
			t.Errorf("man/gsendmail.toml.5 documents %q, which config does not accept", m[1])
		}
	}
}

// probes are values that make each option letter valid when it takes one.
var probes = []string{"x", "m", "never", "full", "7BIT", "x@example.org"}

// acceptedLetters asks cli.Parse which single-letter options it accepts.
func acceptedLetters() []string {
	var out []string
	for c := byte('A'); c <= 'z'; c++ {
		if c > 'Z' && c < 'a' {
			continue
		}
		for _, v := range probes {
			_, err := cli.Parse("sendmail", []string{"-" + string(c), v})
			if err == nil {
				out = append(out, "-"+string(c))
				break
			}
			if sysexits.Code(err) != sysexits.Usage {
				break
			}
		}
	}
	return out
}

func TestEveryOptionLetterCLIAcceptsIsDocumented(t *testing.T) {
	doc := flagsIn(readPage(t, "gsendmail.1"))
	letters := acceptedLetters()
	if len(letters) < 15 {
		t.Fatalf("cli accepts only %v: the probe is broken", letters)
	}
	for _, l := range letters {
		if !doc[l] {
			t.Errorf("cli accepts %s but man/gsendmail.1 does not document it", l)
		}
	}
}

func TestEveryDocumentedOptionLetterIsAccepted(t *testing.T) {
	accepted := acceptedLetters()
	for f := range flagsIn(synopsisAndOptions(t)) {
		if len(f) != 2 {
			continue
		}
		if !slices.Contains(accepted, f) {
			t.Errorf("man/gsendmail.1 documents %s in OPTIONS, but cli rejects it", f)
		}
	}
}

// synopsisAndOptions is the part of gsendmail.1 that describes the
// sendmail command line (the setup flags come later).
func synopsisAndOptions(t *testing.T) string {
	page := readPage(t, "gsendmail.1")
	i, j := strings.Index(page, ".Sh SYNOPSIS"), strings.Index(page, ".Sh COMMANDS")
	if i < 0 || j < i {
		t.Fatal("gsendmail.1 lacks SYNOPSIS or COMMANDS")
	}
	return page[i:j]
}

// longOptions reads the long option names cli handles from its source:
// the string cases of the switch on the option name.
func longOptions(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(testbin.ModuleRoot(), "internal", "cli", "cli.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		sw, ok := n.(*ast.SwitchStmt)
		if !ok {
			return true
		}
		if id, ok := sw.Tag.(*ast.Ident); !ok || id.Name != "name" {
			return true
		}
		for _, st := range sw.Body.List {
			for _, e := range st.(*ast.CaseClause).List {
				if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					seen[s] = true
				}
			}
		}
		return true
	})
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestEveryLongOptionIsDocumented(t *testing.T) {
	doc := flagsIn(readPage(t, "gsendmail.1"))
	longs := longOptions(t)
	if !slices.Contains(longs, "pretend") || !slices.Contains(longs, "version") {
		t.Fatalf("read long options %v from cli.go: the reader is broken", longs)
	}
	for _, l := range longs {
		args := []string{"--" + l}
		if l == "account" {
			args = append(args, "work")
		}
		if _, err := cli.Parse("sendmail", args); err != nil {
			t.Errorf("cli.go names --%s but cli.Parse rejects it: %v", l, err)
		}
		if !doc["--"+l] {
			t.Errorf("cli accepts --%s but man/gsendmail.1 does not document it", l)
		}
	}
	if _, err := cli.Parse("sendmail", []string{"--no-such-option"}); err == nil {
		t.Error("cli accepts an unknown long option, so this test cannot tell")
	}
}

func TestEverySubcommandIsDocumented(t *testing.T) {
	page := readPage(t, "gsendmail.1")
	i, j := strings.Index(page, ".Sh COMMANDS"), strings.Index(page, ".Sh SETUP")
	items := tagged(page[i:j])
	verbs := slices.Clone(cli.Verbs)
	if !slices.Contains(verbs, "accounts") {
		verbs = append(verbs, "accounts") // registered by internal/app
	}
	for _, v := range verbs {
		if !items[v] {
			t.Errorf("subcommand %q is not an item (.It Cm %s) of COMMANDS in man/gsendmail.1", v, v)
		}
	}
	for _, sub := range []string{"login", "import", "status", "logout", "list", "flush", "drop", "set", "delete"} {
		if !items[sub] {
			t.Errorf("sub-command %q is not documented in COMMANDS", sub)
		}
	}
}

func TestEverySetupFlagIsDocumented(t *testing.T) {
	page := readPage(t, "gsendmail.1")
	i, j := strings.Index(page, ".Sh SETUP"), strings.Index(page, ".Sh ACCOUNT SELECTION")
	doc := flagsIn(page[i:j])
	for _, f := range setup.FlagNames() {
		name := "--" + f
		if len(f) == 1 {
			name = "-" + f
		}
		if !doc[name] {
			t.Errorf("setup accepts %s but SETUP in man/gsendmail.1 does not document it", name)
		}
	}
}

func TestEveryPresetIsInTheManPageTable(t *testing.T) {
	page := readPage(t, "gsendmail.1")
	for _, p := range setup.Presets {
		row := regexp.MustCompile(`(?m)^\.It ` + regexp.QuoteMeta(p.Name) + ` Ta ` + regexp.QuoteMeta(p.Host) + ` Ta ` + strconv.Itoa(p.Port) + ` Ta `)
		if !row.MatchString(page) {
			t.Errorf("preset %s (%s:%d) has no matching row in the SETUP table of man/gsendmail.1", p.Name, p.Host, p.Port)
		}
	}
}

func TestEveryExitCodeIsDocumented(t *testing.T) {
	page := readPage(t, "gsendmail.1")
	i := strings.Index(page, ".Sh EXIT STATUS")
	items := tagged(page[i:])
	for _, c := range []int{sysexits.OK, sysexits.Usage, sysexits.DataErr, sysexits.Unavailable, sysexits.TempFail, sysexits.Protocol, sysexits.NoPerm, sysexits.Config} {
		if !items[strconv.Itoa(c)] {
			t.Errorf("exit status %d is not in EXIT STATUS", c)
		}
	}
}

func TestTomlPageExampleLoads(t *testing.T) {
	page := readPage(t, "gsendmail.toml.5")
	i := strings.Index(page, ".Sh EXAMPLES")
	ex := page[i:]
	a, b := strings.Index(ex, ".Bd -literal"), strings.Index(ex, ".Ed")
	body := ex[strings.Index(ex[a:], "\n")+a+1 : b]
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(p, false)
	if err != nil {
		t.Fatalf("the example in gsendmail.toml(5) does not load: %v", err)
	}
	if len(f.Order) != 2 || !f.Accounts["gmail"].Queue {
		t.Errorf("example accounts %v", f.Order)
	}
}

func TestManPagesAreLintClean(t *testing.T) {
	mandoc, err := exec.LookPath("mandoc")
	if err != nil {
		t.Skip("mandoc is not installed")
	}
	for _, name := range []string{"gsendmail.1", "gsendmail.toml.5"} {
		out, err := exec.Command(mandoc, "-Tlint", "-Wwarning", filepath.Join(testbin.ModuleRoot(), "man", name)).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("mandoc -Tlint %s: %v\n%s", name, err, out)
		}
	}
}

func TestEveryBuiltInDefaultIsStatedInTheKeysEntry(t *testing.T) {
	page := readPage(t, "gsendmail.toml.5")
	defaults := config.KeyDefaults()
	if len(defaults) < 10 {
		t.Fatalf("config.KeyDefaults() returned only %d defaults", len(defaults))
	}
	qualified := 0
	for key, def := range defaults {
		where, name := "man/gsendmail.toml.5", key
		text := page
		if table, k, ok := strings.Cut(key, "."); ok {
			// A key of another table (system.sender) is documented in
			// the subsection that introduces that table.
			where, name, text = where+"'s ["+table+"] subsection", k, subsectionOf(page, table)
			qualified++
		}
		entry := regexp.MustCompile(`(?ms)^\.It Cm ` + regexp.QuoteMeta(name) + `\b.*?(?:^\.It |^\.El)`).FindString(text)
		if entry == "" {
			t.Errorf("%s has no entry for %q", where, key)
			continue
		}
		// The value stands alone: 60s but not 160s, /run/x.sock but not
		// /run/x.socket (\b does not work next to / or [).
		entry = strings.ReplaceAll(entry, `\(dq`, `"`)
		if !strings.Contains(entry, "default") || !regexp.MustCompile(`(?:^|[^\w/])`+regexp.QuoteMeta(def)+`(?:[^\w/]|$)`).MatchString(entry) {
			t.Errorf("%s's entry for %q does not state its default %s", where, key, def)
		}
	}
	if qualified == 0 {
		t.Error("no key outside the account keys has a default: the [system] defaults were not checked")
	}
}

// subsectionOf returns the .Ss subsection of page whose text names
// [table], or "" when none does.
func subsectionOf(page, table string) string {
	for _, ss := range strings.Split(page, "\n.Ss ")[1:] {
		ss, _, _ = strings.Cut(ss, "\n.Sh ")
		if strings.Contains(ss, "["+table+"]") {
			return ss
		}
	}
	return ""
}
