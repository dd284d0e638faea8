package sqlite

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/nss/nsstest"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// sqlite3 runs Debian's sqlite3 (the real SQLite) on db; the tests build
// their databases with it and compare what this reader sees with what
// SQLite itself answers.
func sqlite3(t *testing.T, db, sql string) string {
	t.Helper()
	path, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv(mailserver.RequireEnv) == "1" {
			t.Fatalf("sqlite3 not installed (%s=1): run internal/testkit/testenv/install-deps.sh", mailserver.RequireEnv)
		}
		t.Skip("sqlite3 not installed: run internal/testkit/testenv/install-deps.sh")
	}
	cmd := exec.Command(path, db)
	cmd.Stdin = strings.NewReader(sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	return string(out)
}

// render prints a value the way the test's SELECT prints it with quote().
func render(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return fmt.Sprint(x)
	case float64:
		return fmt.Sprint(x)
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case []byte:
		return "X'" + strings.ToUpper(hex.EncodeToString(x)) + "'"
	}
	return "?"
}

func TestReaderSeesWhatSQLiteWrote(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pageSize int
		rows     int
		blob     int // bytes per blob: past a page means overflow pages
	}{
		{"one page", 4096, 3, 10},
		{"interior pages", 1024, 2000, 40},
		{"overflow chains", 1024, 20, 5000},
		{"64k pages", 65536, 50, 70000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "t.db")
			sqlite3(t, db, fmt.Sprintf(`PRAGMA page_size=%d;
CREATE TABLE t (id INTEGER PRIMARY KEY, "name" TEXT, n, f REAL, b BLOB, z);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < %d)
INSERT INTO t SELECT i*7-3, 'row ' || i || ' é', CASE i %% 5 WHEN 0 THEN -i*100000007 WHEN 1 THEN 0 WHEN 2 THEN 1 WHEN 3 THEN -1 ELSE i*1099511627776 END,
  i/3.0, randomblob(%d), NULL FROM c;
`, tc.pageSize, tc.rows, tc.blob))
			want := sqlite3(t, db, "SELECT quote(id), quote(name), quote(n), quote(b), quote(z) FROM t ORDER BY rowid;")
			d, err := Open(db)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := d.Table("t")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(tab.Columns, ","); got != "id,name,n,f,b,z" {
				t.Fatalf("columns %s", got)
			}
			var b bytes.Buffer
			for _, r := range tab.Rows {
				fmt.Fprintf(&b, "%s|%s|%s|%s|%s\n", render(r[0]), render(r[1]), render(r[2]), render(r[4]), render(r[5]))
			}
			if b.String() != want {
				t.Fatalf("reader and sqlite3 differ: %d rows read, first lines\n got %.300s\nwant %.300s", len(tab.Rows), b.String(), want)
			}
			if len(tab.Rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(tab.Rows), tc.rows)
			}
		})
	}
}

func TestOpenRefusesUnmergedWriteAheadLog(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	sqlite3(t, db, "CREATE TABLE t (a); INSERT INTO t VALUES (1);")
	if err := os.WriteFile(db+"-wal", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(db); err == nil || !strings.Contains(err.Error(), "write-ahead log") {
		t.Fatalf("Open = %v, want a write-ahead log error", err)
	}
}

func TestParseRefusesPageLoops(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	sqlite3(t, db, "PRAGMA page_size=512; CREATE TABLE t (a); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 500) INSERT INTO t SELECT randomblob(30) FROM c;")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	root := 0
	for _, s := range d.schema {
		if s.name == "t" {
			root = s.root
		}
	}
	p := b[(root-1)*512:]
	if p[0] != 0x05 {
		t.Fatalf("root page type %d: the table did not grow an interior page", p[0])
	}
	// Point the right-most child back at the root itself.
	p[8], p[9], p[10], p[11] = byte(root>>24), byte(root>>16), byte(root>>8), byte(root)
	d, err = Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Table("t"); err == nil || !strings.Contains(err.Error(), "reached twice") {
		t.Fatalf("Table = %v, want a loop error", err)
	}
}

// FuzzParse feeds arbitrary bytes (a profile copied from anywhere) to the
// reader: it must return rows or an error, never panic or loop.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/small.db"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		for _, n := range d.Tables() {
			d.Table(n)
		}
	})
}

// TestReaderAgreesWithSQLiteOnAKey4DBMadeByNSS reads the database the
// reader exists for: a key4.db NSS's certutil created and NSS's SDR
// wrote a key into (internal/nss/nsstest).
func TestReaderAgreesWithSQLiteOnAKey4DBMadeByNSS(t *testing.T) {
	dir := t.TempDir()
	nsstest.Profile(t, dir, "", []nsstest.Login{{Origin: "smtp://h", Username: "u", Password: "p"}})
	db := filepath.Join(dir, "key4.db")
	d, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ table, cols string }{
		{"metaData", "id,item1,item2"},
		{"nssPrivate", "id,a11,a102"},
	} {
		cols := strings.Split(q.cols, ",")
		var sel []string
		for _, c := range cols {
			sel = append(sel, "quote("+c+")")
		}
		want := sqlite3(t, db, "SELECT "+strings.Join(sel, ",")+" FROM "+q.table+" ORDER BY rowid;")
		tab, err := d.Table(q.table)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, r := range tab.Rows {
			var vals []string
			for _, c := range cols {
				vals = append(vals, render(r[tab.Column(c)]))
			}
			b.WriteString(strings.Join(vals, "|") + "\n")
		}
		if b.String() != want || len(tab.Rows) == 0 {
			t.Errorf("%s: reader\n%s\nsqlite3\n%s", q.table, b.String(), want)
		}
	}
}
