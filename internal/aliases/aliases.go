// Package aliases owns aliases(5)-style local recipient rewriting: it
// parses an aliases file ("name: addr1, addr2"), expands bare local names
// such as cron's "root" recursively to real addresses, and qualifies what
// is left with the configured local domain.
//
// It does not deliver to commands ("|cmd"), files ("/path") or include
// files (":include:"): gsendmail only relays to a smarthost, so those
// entries are configuration errors, not silently dropped mail. It does not
// read /etc/aliases.db or any other database; it parses the text file each
// time (the file is small and read once per message).
package aliases

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// target is one right-hand-side address of an alias.
type target struct {
	addr    string
	literal bool // "\user": do not look user up again
}

type entry struct {
	name    string // as written
	line    int
	targets []target
}

// Table is a parsed aliases file. A nil *Table has no aliases; Expand then
// only qualifies bare names.
type Table struct {
	file    string
	entries map[string]*entry // by lower-case name
}

// Len returns the number of aliases.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Load reads and parses the aliases file at path.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf(
			"cannot read aliases file: %v; create it or change the aliases setting in the configuration", err))
	}
	defer f.Close()
	return Parse(f, path)
}

func configErr(file string, line int, format string, a ...any) error {
	return sysexits.New(sysexits.Config, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, a...)))
}

// Parse parses aliases(5) text: "name: address, address" entries, lines
// whose first non-blank character is '#' are comments, blank lines are
// ignored, and a line starting with white space continues the previous
// entry. Names are case-insensitive. Errors name filename and line and
// have exit code 78.
func Parse(r io.Reader, filename string) (*Table, error) {
	t := &Table{file: filename, entries: map[string]*entry{}}
	br := bufio.NewReader(r)
	var (
		cur     strings.Builder
		curLine int
		lineNo  int
	)
	flush := func() error {
		if curLine == 0 {
			return nil
		}
		err := t.addEntry(cur.String(), curLine)
		cur.Reset()
		curLine = 0
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, sysexits.New(sysexits.Config, fmt.Errorf("cannot read aliases file %s: %v", filename, err))
		}
		if line == "" && err != nil {
			break
		}
		lineNo++
		line = strings.TrimRight(line, "\r\n")
		if strings.ContainsRune(line, 0) {
			return nil, configErr(filename, lineNo, "NUL byte; this does not look like an aliases file")
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed[0] == '#':
			// Blank lines and comments end nothing: a continuation
			// may follow a comment, as in Postfix.
		case line[0] == ' ' || line[0] == '\t':
			if curLine == 0 {
				return nil, configErr(filename, lineNo, "continuation line (starting with white space) without an entry before it")
			}
			cur.WriteByte(' ')
			cur.WriteString(trimmed)
		default:
			if ferr := flush(); ferr != nil {
				return nil, ferr
			}
			curLine = lineNo
			cur.WriteString(trimmed)
		}
		if err != nil {
			break
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return t, nil
}

// addEntry parses one logical line "name: targets".
func (t *Table) addEntry(s string, line int) error {
	var name, rhs string
	if strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 || !strings.HasPrefix(strings.TrimLeft(s[end+2:], " \t"), ":") {
			return configErr(t.file, line, "expected \"name: address, ...\"")
		}
		name = s[1 : end+1]
		rhs = strings.TrimLeft(s[end+2:], " \t")[1:]
	} else {
		var ok bool
		name, rhs, ok = strings.Cut(s, ":")
		if !ok {
			return configErr(t.file, line, "expected \"name: address, ...\", found no ':'")
		}
		name = strings.TrimSpace(name)
	}
	switch {
	case name == "":
		return configErr(t.file, line, "alias with an empty name")
	case strings.ContainsAny(name, " \t\"\\,"):
		return configErr(t.file, line, "alias name %q contains white space, a quote, a backslash or a comma", name)
	case strings.Contains(name, "@"):
		return configErr(t.file, line, "alias name %q has a domain; aliases are local names such as \"root\"", name)
	}
	key := strings.ToLower(name)
	if prev, ok := t.entries[key]; ok {
		return configErr(t.file, line, "alias %q is already defined on line %d; merge the two entries", name, prev.line)
	}
	e := &entry{name: name, line: line}
	for _, item := range splitTargets(rhs) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		tg, err := parseTarget(item)
		if err != nil {
			return configErr(t.file, line, "alias %q: %v", name, err)
		}
		e.targets = append(e.targets, tg)
	}
	if len(e.targets) == 0 {
		return configErr(t.file, line, "alias %q has no addresses", name)
	}
	t.entries[key] = e
	return nil
}

// splitTargets splits at commas outside quotes, angle brackets and
// comments.
func splitTargets(s string) []string {
	var out []string
	start, angle, paren := 0, 0, 0
	inQuote, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case c == '\\' && (inQuote || paren > 0):
			esc = true
		case inQuote:
			inQuote = c != '"'
		case c == '"' && paren == 0:
			inQuote = true
		case c == '(':
			paren++
		case c == ')' && paren > 0:
			paren--
		case paren > 0:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case c == ',' && angle == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func parseTarget(item string) (target, error) {
	bare := strings.TrimPrefix(item, `"`)
	switch {
	case strings.HasPrefix(bare, "|"):
		return target{}, fmt.Errorf("%s pipes mail to a command, which gsendmail cannot do (it only relays to a smarthost); forward to an email address instead", item)
	case len(bare) >= 9 && strings.EqualFold(bare[:9], ":include:"):
		return target{}, fmt.Errorf("%s includes another file, which gsendmail does not support; list the addresses here instead", item)
	case strings.HasPrefix(bare, "/"):
		return target{}, fmt.Errorf("%s delivers to a file, which gsendmail cannot do (it only relays to a smarthost); forward to an email address instead", item)
	}
	lit := strings.HasPrefix(item, `\`)
	if lit {
		item = item[1:]
	}
	list, err := message.ParseAddressList(item)
	if err != nil {
		return target{}, err
	}
	if len(list) != 1 {
		return target{}, fmt.Errorf("%q is not one address", item)
	}
	return target{addr: list[0], literal: lit}, nil
}

// split splits a canonical address (as message.ParseAddressList returns)
// into local part and domain; a quoted local part without domain has none.
func split(a string) (local, domain string) {
	if strings.HasSuffix(a, `"`) {
		return a, ""
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a, ""
	}
	return a[:at], a[at+1:]
}

// Expand rewrites recipients for delivery through the smarthost:
//   - an address with a domain passes through unchanged, unless the domain
//     is localDomain or "localhost": then its local part is looked up like
//     a bare name (kept as is when not found and the domain is localDomain);
//   - a bare local name is replaced by its alias, recursively; without an
//     alias the "default" entry, if any, catches it; otherwise it becomes
//     name@localDomain, or, with no localDomain, an error with exit code 67
//     that says how to fix it;
//   - an alias that lists its own name ("user: \user" or "user: user, x")
//     stops there instead of looping; a real loop is an error with exit
//     code 78 naming the chain.
//
// The result has no duplicates (domains compare case-insensitively) and
// keeps the order of first appearance.
func (t *Table) Expand(rcpts []string, localDomain string) ([]string, error) {
	x := &expander{t: t, localDomain: localDomain, memo: map[string][]string{}}
	var out []string
	seen := map[string]bool{}
	for _, r := range rcpts {
		list, err := x.addr(r, nil, "", true)
		if err != nil {
			return nil, err
		}
		out = appendUnique(out, seen, list...)
	}
	return out, nil
}

type expander struct {
	t           *Table
	localDomain string
	memo        map[string][]string
}

func appendUnique(out []string, seen map[string]bool, addrs ...string) []string {
	for _, a := range addrs {
		l, d := split(a)
		k := l + "@" + strings.ToLower(d)
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// addr expands one address met in chain (the alias names being expanded)
// as a target of the alias named self.
func (x *expander) addr(a string, chain []string, self string, allowDefault bool) ([]string, error) {
	local, domain := split(a)
	switch {
	case domain == "":
	case strings.EqualFold(domain, "localhost"):
	case x.localDomain != "" && strings.EqualFold(domain, x.localDomain):
		if x.lookup(local) == nil {
			return []string{a}, nil // a real mailbox in our own domain
		}
	default:
		return []string{a}, nil
	}
	if self != "" && strings.EqualFold(local, self) {
		return x.qualify(local, a)
	}
	return x.local(local, a, chain, allowDefault)
}

func (x *expander) lookup(name string) *entry {
	if x.t == nil {
		return nil
	}
	return x.t.entries[strings.ToLower(name)]
}

// local expands the local name, written in full as orig.
func (x *expander) local(name, orig string, chain []string, allowDefault bool) ([]string, error) {
	key := strings.ToLower(name)
	for i, c := range chain {
		if c == key {
			loop := append(append([]string(nil), chain[i:]...), key)
			return nil, sysexits.New(sysexits.Config, fmt.Errorf(
				"aliases loop: %s; fix the entries in %s", strings.Join(loop, " -> "), x.t.file))
		}
	}
	e := x.lookup(name)
	if e == nil && allowDefault && x.lookup("default") != nil {
		e = x.lookup("default")
		chain = append(chain, key)
		key = "default"
		allowDefault = false // default's own bare targets must not recurse into it
	}
	if e == nil {
		return x.qualify(name, orig)
	}
	memoKey := key
	if allowDefault {
		memoKey += "\x00d"
	}
	if list, ok := x.memo[memoKey]; ok {
		return list, nil
	}
	chain = append(chain, key)
	var out []string
	seen := map[string]bool{}
	for _, tg := range e.targets {
		var list []string
		var err error
		if tg.literal {
			local, _ := split(tg.addr)
			list, err = x.qualify(local, tg.addr)
		} else {
			list, err = x.addr(tg.addr, chain, e.name, allowDefault)
		}
		if err != nil {
			return nil, err
		}
		out = appendUnique(out, seen, list...)
	}
	x.memo[memoKey] = out
	return out, nil
}

// qualify turns a local name without alias into a deliverable address.
func (x *expander) qualify(local, orig string) ([]string, error) {
	_, domain := split(orig)
	if domain != "" && !strings.EqualFold(domain, "localhost") {
		return []string{orig}, nil // user@localDomain
	}
	if x.localDomain != "" {
		return []string{local + "@" + x.localDomain}, nil
	}
	return nil, sysexits.New(sysexits.NoUser, fmt.Errorf(
		"recipient %q has no domain: add \"%s: you@example.org\" to an aliases file (aliases = \"/etc/aliases\" in the config) or set local_domain",
		orig, strings.ToLower(local)))
}
