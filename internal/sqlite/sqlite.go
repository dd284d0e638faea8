// Package sqlite reads tables out of an SQLite 3 database file, read-only
// and in pure Go: just enough of the file format
// (https://www.sqlite.org/fileformat2.html) to read NSS's key4.db, whose
// two tables (metaData, nssPrivate) hold a few rows of blobs.
//
// It walks table b-trees (interior and leaf pages, overflow chains) and
// decodes records; it takes column names from the CREATE TABLE statement
// in the schema table. It has no SQL, no indexes, no WITHOUT ROWID
// tables, no write-ahead log (Open refuses a database with a non-empty
// -wal file, whose newest rows it could not see) and never writes.
//
// Why not a full SQLite: the pure-Go ports (modernc.org/sqlite) add
// several megabytes to a binary that otherwise needs none of it, and a
// cgo one breaks CGO_ENABLED=0. The file is untrusted input (a profile
// copied from elsewhere): every offset is bounds-checked, page loops are
// refused, and FuzzParse runs the reader on arbitrary bytes.
package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// MaxFileSize bounds the file Open reads into memory.
const MaxFileSize = 64 << 20

// DB is a database file held in memory.
type DB struct {
	data     []byte
	pageSize int
	usable   int
	pages    int
	schema   []schemaRow
}

type schemaRow struct {
	typ, name string
	root      int
	sql       string
}

// Table is one table's rows.
type Table struct {
	Name    string
	Columns []string
	// Rows hold, per column, nil, int64, float64, string or []byte.
	Rows [][]any
}

// Column returns the index of the column called name, or -1.
func (t *Table) Column(name string) int {
	for i, c := range t.Columns {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// Open reads the database at path.
func Open(path string) (*DB, error) {
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("%s has a write-ahead log (%s-wal) not yet merged, probably because the program using it is running: close it and try again", path, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d this reader accepts", path, fi.Size(), MaxFileSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	db, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

var errCorrupt = errors.New("not a valid SQLite 3 database (or a damaged one)")

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, a...))
}

// Parse reads a database from its bytes.
func Parse(b []byte) (*DB, error) {
	if len(b) < 100 || string(b[:16]) != "SQLite format 3\x00" {
		return nil, errors.New("not an SQLite 3 database")
	}
	ps := int(binary.BigEndian.Uint16(b[16:18]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return nil, corrupt("page size %d", ps)
	}
	usable := ps - int(b[20])
	if usable < 480 {
		return nil, corrupt("usable page size %d", usable)
	}
	db := &DB{data: b, pageSize: ps, usable: usable, pages: len(b) / ps}
	if db.pages == 0 {
		return nil, corrupt("shorter than one page")
	}
	rows, err := db.walk(1)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	for _, r := range rows {
		rec := r.values
		if len(rec) < 5 {
			continue
		}
		typ, _ := rec[0].(string)
		name, _ := rec[1].(string)
		root, _ := rec[3].(int64)
		sql, _ := rec[4].(string)
		db.schema = append(db.schema, schemaRow{typ, name, int(root), sql})
	}
	return db, nil
}

// Tables lists the tables' names.
func (db *DB) Tables() []string {
	var n []string
	for _, s := range db.schema {
		if s.typ == "table" {
			n = append(n, s.name)
		}
	}
	return n
}

// Table reads every row of the table called name.
func (db *DB) Table(name string) (*Table, error) {
	for _, s := range db.schema {
		if s.typ != "table" || !strings.EqualFold(s.name, name) {
			continue
		}
		cols, alias, err := columns(s.sql)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		rows, err := db.walk(s.root)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		t := &Table{Name: s.name, Columns: cols}
		for _, r := range rows {
			v := make([]any, len(cols))
			copy(v, r.values)
			if alias >= 0 && v[alias] == nil {
				v[alias] = r.rowid // INTEGER PRIMARY KEY is the rowid
			}
			t.Rows = append(t.Rows, v)
		}
		return t, nil
	}
	return nil, fmt.Errorf("no table %q", name)
}

type row struct {
	rowid  int64
	values []any
}

func (db *DB) page(n int) ([]byte, error) {
	if n < 1 || n > db.pages {
		return nil, corrupt("page %d out of range (1..%d)", n, db.pages)
	}
	return db.data[(n-1)*db.pageSize : n*db.pageSize], nil
}

// walk returns the rows of the table b-tree rooted at page root, in
// order.
func (db *DB) walk(root int) ([]row, error) {
	var rows []row
	seen := map[int]bool{}
	var visit func(n, depth int) error
	visit = func(n, depth int) error {
		if seen[n] {
			return corrupt("page %d is reached twice", n)
		}
		if depth > 64 {
			return corrupt("b-tree deeper than 64")
		}
		seen[n] = true
		p, err := db.page(n)
		if err != nil {
			return err
		}
		h := 0
		if n == 1 {
			h = 100
		}
		if len(p) < h+12 {
			return corrupt("page %d too short", n)
		}
		kind := p[h]
		cells := int(binary.BigEndian.Uint16(p[h+3:]))
		hdr := 8
		if kind == 0x05 {
			hdr = 12
		}
		ptrs := h + hdr
		if ptrs+2*cells > len(p) {
			return corrupt("page %d: %d cells do not fit", n, cells)
		}
		for i := 0; i < cells; i++ {
			off := int(binary.BigEndian.Uint16(p[ptrs+2*i:]))
			if off < ptrs || off >= db.usable {
				return corrupt("page %d: cell %d at %d", n, i, off)
			}
			switch kind {
			case 0x05: // interior table page: child pointer, rowid
				if off+4 > len(p) {
					return corrupt("page %d: cell %d truncated", n, i)
				}
				if err := visit(int(binary.BigEndian.Uint32(p[off:])), depth+1); err != nil {
					return err
				}
			case 0x0d: // leaf table page: payload size, rowid, payload
				r, err := db.leafCell(p, off)
				if err != nil {
					return fmt.Errorf("page %d cell %d: %w", n, i, err)
				}
				rows = append(rows, r)
			default:
				return corrupt("page %d is not a table b-tree page (type %d)", n, kind)
			}
		}
		if kind == 0x05 {
			return visit(int(binary.BigEndian.Uint32(p[h+8:])), depth+1)
		}
		return nil
	}
	return rows, visit(root, 0)
}

// leafCell decodes a table leaf cell, following its overflow chain.
func (db *DB) leafCell(p []byte, off int) (row, error) {
	size, n := varint(p[off:db.usable])
	if n == 0 {
		return row{}, corrupt("bad payload size")
	}
	off += n
	rowid, n := varint(p[off:db.usable])
	if n == 0 {
		return row{}, corrupt("bad rowid")
	}
	off += n
	if size > MaxFileSize {
		return row{}, corrupt("payload of %d bytes", size)
	}
	P := int(size)
	U := db.usable
	X := U - 35
	local := P
	if P > X {
		M := (U-12)*32/255 - 23
		K := M + (P-M)%(U-4)
		local = M
		if K <= X {
			local = K
		}
	}
	if off+local > U {
		return row{}, corrupt("payload runs past the page")
	}
	payload := make([]byte, 0, P)
	payload = append(payload, p[off:off+local]...)
	if local < P {
		if off+local+4 > U {
			return row{}, corrupt("overflow pointer past the page")
		}
		next := int(binary.BigEndian.Uint32(p[off+local:]))
		seen := map[int]bool{}
		for len(payload) < P {
			if next == 0 || seen[next] {
				return row{}, corrupt("overflow chain broken")
			}
			seen[next] = true
			op, err := db.page(next)
			if err != nil {
				return row{}, err
			}
			take := min(P-len(payload), U-4)
			payload = append(payload, op[4:4+take]...)
			next = int(binary.BigEndian.Uint32(op))
		}
	}
	vals, err := record(payload)
	if err != nil {
		return row{}, err
	}
	return row{int64(rowid), vals}, nil
}

// varint decodes SQLite's big-endian variable-length integer (1-9
// bytes); n is 0 when b is too short.
func varint(b []byte) (v uint64, n int) {
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// record decodes a record: a header of serial types, then the values.
func record(b []byte) ([]any, error) {
	hlen, n := varint(b)
	if n == 0 || hlen > uint64(len(b)) || int(hlen) < n {
		return nil, corrupt("bad record header")
	}
	var types []uint64
	for i := n; i < int(hlen); {
		t, m := varint(b[i:hlen])
		if m == 0 {
			return nil, corrupt("bad serial type")
		}
		types = append(types, t)
		i += m
	}
	body := b[hlen:]
	vals := make([]any, len(types))
	for i, t := range types {
		var size int
		switch {
		case t == 0 || t == 8 || t == 9:
			size = 0
		case t <= 4:
			size = int(t)
		case t == 5:
			size = 6
		case t == 6 || t == 7:
			size = 8
		case t >= 12:
			if t > MaxFileSize*2 {
				return nil, corrupt("value too large")
			}
			size = int(t-12) / 2
		default:
			return nil, corrupt("reserved serial type %d", t)
		}
		if size > len(body) {
			return nil, corrupt("record shorter than its header says")
		}
		v := body[:size]
		body = body[size:]
		switch {
		case t == 0:
			vals[i] = nil
		case t == 8:
			vals[i] = int64(0)
		case t == 9:
			vals[i] = int64(1)
		case t <= 6:
			var x int64
			for _, c := range v {
				x = x<<8 | int64(c)
			}
			shift := 64 - 8*uint(size) // sign-extend the big-endian integer
			vals[i] = x << shift >> shift
		case t == 7:
			vals[i] = math.Float64frombits(binary.BigEndian.Uint64(v))
		case t%2 == 0:
			vals[i] = append([]byte(nil), v...)
		default:
			vals[i] = string(v)
		}
	}
	return vals, nil
}

// columns returns a CREATE TABLE statement's column names and the index
// of the INTEGER PRIMARY KEY column (-1 when none).
func columns(sql string) ([]string, int, error) {
	open := strings.IndexByte(sql, '(')
	end := strings.LastIndexByte(sql, ')')
	if open < 0 || end < open {
		return nil, -1, fmt.Errorf("cannot read the columns of %q", sql)
	}
	var parts []string
	depth, start := 0, open+1
	for i := open + 1; i < end; i++ {
		switch sql[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, sql[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, sql[start:end])
	var cols []string
	alias := -1
	for _, p := range parts {
		f := strings.Fields(p)
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN":
			continue
		}
		name := strings.Trim(f[0], "\"`[]'")
		up := strings.ToUpper(strings.Join(f[1:], " "))
		if len(f) > 1 && strings.ToUpper(f[1]) == "INTEGER" && strings.Contains(up, "PRIMARY KEY") {
			alias = len(cols)
		}
		cols = append(cols, name)
	}
	if len(cols) == 0 {
		return nil, -1, fmt.Errorf("no columns in %q", sql)
	}
	return cols, alias, nil
}
