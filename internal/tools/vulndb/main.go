// Command vulndb turns the OSV entries of the golang.org/x/vulndb module
// (data/osv/GO-*.json, as the Go module proxy serves it) into the layout
// govulncheck reads with -db file:///DIR (the v1 database protocol of
// https://go.dev/security/vuln/database): index/db.json, index/modules.json,
// index/vulns.json and ID/GO-*.json. internal/tools/govulncheck.sh runs it;
// it exists because vuln.go.dev is unreachable where this project is
// tested, while the module proxy is not. Tool only; not part of gsendmail.
//
// Usage: go run ./internal/tools/vulndb -osv DIR -modified TIME -out DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type entry struct {
	ID       string   `json:"id"`
	Modified string   `json:"modified"`
	Aliases  []string `json:"aliases"`
	Affected []struct {
		Module struct {
			Path string `json:"path"`
		} `json:"module"`
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type vulnRef struct {
	ID       string `json:"id"`
	Modified string `json:"modified"`
	Fixed    string `json:"fixed,omitempty"`
}

type module struct {
	Path  string    `json:"path"`
	Vulns []vulnRef `json:"vulns"`
}

type vulnIndex struct {
	ID       string   `json:"id"`
	Modified string   `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
}

func main() {
	osvDir := flag.String("osv", "", "directory of GO-*.json OSV entries (x/vulndb data/osv)")
	out := flag.String("out", "", "output directory")
	modified := flag.String("modified", "", "RFC 3339 time of the data (the module version's time), used where an entry has none")
	flag.Parse()
	if *osvDir == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: vulndb -osv DIR -modified TIME -out DIR")
		os.Exit(2)
	}
	dbTime, err := time.Parse(time.RFC3339, *modified)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vulndb: -modified %q: %v\n", *modified, err)
		os.Exit(2)
	}
	if err := build(*osvDir, *out, dbTime.UTC()); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func build(osvDir, out string, dbTime time.Time) error {
	files, err := filepath.Glob(filepath.Join(osvDir, "GO-*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no GO-*.json entries in %s", osvDir)
	}
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
		return err
	}
	stamp := dbTime.Format(time.RFC3339)
	mods := map[string]*module{}
	var vulns []vulnIndex
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		mod := e.Modified
		if mod == "" || strings.HasPrefix(mod, "0001-") {
			mod = stamp
		}
		vulns = append(vulns, vulnIndex{ID: e.ID, Modified: mod, Aliases: e.Aliases})
		for _, a := range e.Affected {
			path := a.Module.Path
			if path == "" {
				path = a.Package.Name // "stdlib", "toolchain"
			}
			if path == "" {
				continue
			}
			m := mods[path]
			if m == nil {
				m = &module{Path: path}
				mods[path] = m
			}
			fixed := ""
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					if v := ev["fixed"]; v != "" {
						fixed = v
					}
				}
			}
			m.Vulns = append(m.Vulns, vulnRef{ID: e.ID, Modified: mod, Fixed: fixed})
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
	}
	var list []*module
	for _, m := range mods {
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	for name, v := range map[string]any{"db.json": map[string]string{"modified": stamp}, "modules.json": list, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("vulndb: %d entries, %d modules, data of %s\n", len(vulns), len(list), stamp)
	return nil
}
