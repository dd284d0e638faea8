package mta

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// The maildrop is where the sendmail side leaves a message when the
// daemon cannot be reached, and where "gsendmail pickup" (run as the
// daemon user) takes it from. It is Postfix's old world-writable
// maildrop, without a setgid helper:
//
//   - the directory (DefaultMaildrop) is owned by the daemon user, mode
//     1733: anyone may create a file, nobody but the owner may list it,
//     and the sticky bit keeps users from removing or renaming each
//     other's files;
//   - a user writes a temporary file (safeio's ".tmp-*"), then renames
//     it to 32 random hex digits, mode 0644 so the daemon can read it. Without read permission
//     on the directory no other user can find the name;
//   - the file's owner is the submitting user: pickup applies that uid's
//     policy exactly as the socket does. Pickup refuses anything that is
//     not a regular file with one link (a hard link to someone else's
//     file, a FIFO, a symlink).
//
// The directory cannot be fsync'd by a user who cannot read it: a drop is
// durable once the file is (it is fsync'd before the rename), and the
// rename is durable after the next sync of the file system.
//
// File format: a magic line, envelope lines, an empty line, then the
// message exactly as the sendmail side read it:
//
//	gsendmail-maildrop 1
//	from <addr>          (once; <> is the null sender / no -f)
//	rcpt <addr>          (one or more)
//	notify VALUE, ret VALUE, envid VALUE, 8bit, utf8   (optional)
//
// Addresses use NAME@localhost for a bare local name, as on the socket.

// DefaultMaildrop is the maildrop directory of a system install.
const DefaultMaildrop = "/var/spool/gsendmail/maildrop"

const dropMagic = "gsendmail-maildrop 1"

// maxDropHeader bounds the envelope part of a drop file.
const maxDropHeader = 1 << 20

// Drop writes one message into dir and returns the file's path. It fails
// with an error wrapping fs.ErrNotExist when dir does not exist; it never
// creates dir (a user must not be able to create the daemon's maildrop).
func Drop(dir string, env smtp.Envelope, write func(io.Writer) error) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	var header bytes.Buffer
	if err := writeDropHeader(&header, env); err != nil {
		return "", err
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	final := filepath.Join(dir, hex.EncodeToString(rnd[:]))
	// Readable by the daemon user, which is neither owner nor (usually)
	// in the user's group; the name is the secret (see above). The user
	// cannot open the directory to fsync it (see above).
	err = safeio.WriteAtomicOpts(final, 0o644, safeio.Options{NoSyncDir: true}, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		if _, err := bw.Write(header.Bytes()); err != nil {
			return err
		}
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return "", err
	}
	return final, nil
}

func writeDropHeader(w io.Writer, env smtp.Envelope) error {
	for _, v := range append([]string{env.From, env.DSNNotify, env.DSNReturn, env.EnvID}, env.To...) {
		if strings.ContainsAny(v, "\r\n\x00<>") {
			return fmt.Errorf("envelope value %q contains a line break or angle bracket", v)
		}
	}
	if len(env.To) == 0 {
		return errors.New("no recipients")
	}
	fmt.Fprintf(w, "%s\nfrom <%s>\n", dropMagic, env.From)
	for _, r := range env.To {
		fmt.Fprintf(w, "rcpt <%s>\n", r)
	}
	if env.DSNNotify != "" {
		fmt.Fprintf(w, "notify %s\n", env.DSNNotify)
	}
	if env.DSNReturn != "" {
		fmt.Fprintf(w, "ret %s\n", env.DSNReturn)
	}
	if env.EnvID != "" {
		fmt.Fprintf(w, "envid %s\n", env.EnvID)
	}
	if env.EightBit {
		fmt.Fprintln(w, "8bit")
	}
	if env.UTF8 {
		fmt.Fprintln(w, "utf8")
	}
	_, err := fmt.Fprintln(w)
	return err
}

// ParseDrop reads the envelope of a drop file; the returned reader is
// positioned at the first byte of the message.
func ParseDrop(r io.Reader) (smtp.Envelope, *bufio.Reader, error) {
	br := bufio.NewReader(r)
	var env smtp.Envelope
	read := 0
	line := func() (string, error) {
		l, err := br.ReadString('\n')
		read += len(l)
		if read > maxDropHeader {
			return "", errors.New("envelope part larger than 1 MiB")
		}
		if err != nil {
			return "", fmt.Errorf("envelope part ends early: %w", err)
		}
		return strings.TrimSuffix(l, "\n"), nil
	}
	l, err := line()
	if err != nil {
		return env, nil, err
	}
	if l != dropMagic {
		return env, nil, errors.New("not a gsendmail maildrop file")
	}
	sawFrom := false
	for {
		l, err := line()
		if err != nil {
			return env, nil, err
		}
		if l == "" {
			break
		}
		key, val, _ := strings.Cut(l, " ")
		addr := func() (string, error) {
			if len(val) < 2 || val[0] != '<' || val[len(val)-1] != '>' || strings.ContainsAny(val[1:len(val)-1], "<>\r\x00") {
				return "", fmt.Errorf("bad address in %q", key)
			}
			return val[1 : len(val)-1], nil
		}
		switch key {
		case "from":
			if sawFrom {
				return env, nil, errors.New("two from lines")
			}
			if env.From, err = addr(); err != nil {
				return env, nil, err
			}
			sawFrom = true
		case "rcpt":
			a, err := addr()
			if err != nil || a == "" {
				return env, nil, fmt.Errorf("bad rcpt line")
			}
			env.To = append(env.To, a)
		case "notify":
			env.DSNNotify = val
		case "ret":
			env.DSNReturn = val
		case "envid":
			env.EnvID = val
		case "8bit":
			env.EightBit = true
		case "utf8":
			env.UTF8 = true
		default:
			return env, nil, fmt.Errorf("unknown envelope line %q", key)
		}
	}
	if !sawFrom || len(env.To) == 0 {
		return env, nil, errors.New("envelope without from or rcpt")
	}
	return env, br, nil
}
