package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// envelopeV1 is the stored form of an Entry: one JSON object, fields named
// for what they mean on the wire. Addresses are stored as whole strings, so
// nothing is ever re-split (msmtpq's saved argv word-splits them).
type envelopeV1 struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	Account     string    `json:"account,omitempty"`
	ConfigPath  string    `json:"config,omitempty"`
	From        string    `json:"from"`
	To          []string  `json:"to"`
	DSNNotify   string    `json:"dsn_notify,omitempty"`
	DSNReturn   string    `json:"dsn_ret,omitempty"`
	EnvID       string    `json:"envid,omitempty"`
	EightBit    bool      `json:"8bitmime,omitempty"`
	UTF8        bool      `json:"smtputf8,omitempty"`
	Size        int64     `json:"size"`
	WireSize    int64     `json:"wire_size,omitempty"`
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Failed      time.Time `json:"failed,omitzero"`
	// Submitter is optional and new; version 1 stays: every envelope
	// written before it (and every one without a submitter) reads the
	// same. An older gsendmail that meets it refuses the unknown field
	// and sets the entry aside in corrupt/ (nothing is lost, and
	// "mv corrupt/ID.* ." after an upgrade brings it back).
	Submitter *submitterV1 `json:"submitter,omitempty"`
}

type submitterV1 struct {
	UID  int    `json:"uid"`
	Name string `json:"name,omitempty"`
}

const envelopeVersion = 1

// errUnsupportedVersion marks an envelope from a newer gsendmail: not
// corrupt, just not ours to touch.
var errUnsupportedVersion = errors.New("unsupported envelope version")

func encodeEnvelope(e Entry) ([]byte, error) {
	if err := validate(e); err != nil {
		return nil, err
	}
	v := envelopeV1{
		V: envelopeVersion, ID: e.ID, Account: e.Account, ConfigPath: e.ConfigPath,
		From: e.From, To: e.To, DSNNotify: e.DSNNotify, DSNReturn: e.DSNReturn,
		EnvID: e.EnvID, EightBit: e.EightBit, UTF8: e.UTF8, Size: e.Size, WireSize: e.WireSize,
		Created: e.Created, Attempts: e.Attempts, LastError: e.LastError,
		LastAttempt: e.LastAttempt, NextAttempt: e.NextAttempt, Failed: e.Failed,
	}
	if e.Submitter != nil {
		v.Submitter = &submitterV1{UID: e.Submitter.UID, Name: e.Submitter.Name}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeEnvelope parses a stored envelope. Anything but exactly one valid
// version-1 object (unknown fields, trailing data, a bad address) is an
// error: the caller sets such an entry aside rather than guess.
func decodeEnvelope(b []byte) (Entry, error) {
	var probe struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Entry{}, fmt.Errorf("envelope is not JSON: %w", err)
	}
	if probe.V == nil {
		return Entry{}, errors.New("envelope has no version")
	}
	if *probe.V > envelopeVersion {
		return Entry{}, fmt.Errorf("%w %d", errUnsupportedVersion, *probe.V)
	}
	if *probe.V != envelopeVersion {
		return Entry{}, fmt.Errorf("envelope version %d is invalid", *probe.V)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v envelopeV1
	if err := dec.Decode(&v); err != nil {
		return Entry{}, fmt.Errorf("envelope: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Entry{}, errors.New("envelope has data after the JSON object")
	}
	e := Entry{
		ID: v.ID, Account: v.Account, ConfigPath: v.ConfigPath,
		From: v.From, To: v.To, DSNNotify: v.DSNNotify, DSNReturn: v.DSNReturn,
		EnvID: v.EnvID, EightBit: v.EightBit, UTF8: v.UTF8, Size: v.Size, WireSize: v.WireSize,
		Created: v.Created, Attempts: v.Attempts, LastError: v.LastError,
		LastAttempt: v.LastAttempt, NextAttempt: v.NextAttempt, Failed: v.Failed,
	}
	if v.Submitter != nil {
		e.Submitter = &Submitter{UID: v.Submitter.UID, Name: v.Submitter.Name}
	}
	if err := validate(e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// validate is what every stored envelope satisfies, checked both when
// writing (so a bad envelope is refused, not queued) and when reading.
func validate(e Entry) error {
	if !ValidID(e.ID) {
		return fmt.Errorf("invalid queue ID %q", e.ID)
	}
	if len(e.To) == 0 {
		return errors.New("no recipients")
	}
	if err := checkAddress("sender", e.From, true); err != nil {
		return err
	}
	for _, r := range e.To {
		if err := checkAddress("recipient", r, false); err != nil {
			return err
		}
	}
	if err := checkNotify(e.DSNNotify); err != nil {
		return err
	}
	switch e.DSNReturn {
	case "", "FULL", "HDRS":
	default:
		return fmt.Errorf("DSN RET %q is not FULL or HDRS", e.DSNReturn)
	}
	// RFC 3461 4.4: ENVID is at most 100 characters of printable ASCII.
	if len(e.EnvID) > 100 || strings.IndexFunc(e.EnvID, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return errors.New("DSN ENVID must be at most 100 printable ASCII characters")
	}
	for _, s := range []string{e.Account, e.ConfigPath, e.LastError} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return errors.New("account, config path or last error is not valid UTF-8 text")
		}
	}
	if strings.ContainsAny(e.LastError, "\r\n") {
		return errors.New("last error spans lines")
	}
	if e.Size < 0 || e.WireSize < 0 || e.Attempts < 0 {
		return errors.New("negative size or attempt count")
	}
	if s := e.Submitter; s != nil {
		// A login name is at most 32 bytes on Linux; no control or
		// format characters may reach a terminal through mailq.
		if s.UID < 0 || len(s.Name) > 256 || !utf8.ValidString(s.Name) || strings.IndexFunc(s.Name, unicode.IsControl) >= 0 {
			return errors.New("submitter has a negative uid or a name that is not one short line")
		}
	}
	if e.Created.IsZero() {
		return errors.New("no creation time")
	}
	return nil
}

// checkAddress refuses what cannot be sent in MAIL FROM / RCPT TO or would
// not survive storage: control characters (CR/LF would inject SMTP
// commands) and invalid UTF-8 (JSON would silently change it). Everything
// else — spaces, quotes, shell metacharacters, non-ASCII — is kept verbatim.
func checkAddress(what, a string, mayBeEmpty bool) error {
	if a == "" && !mayBeEmpty {
		return fmt.Errorf("empty %s address", what)
	}
	if !utf8.ValidString(a) {
		return fmt.Errorf("%s address %q is not valid UTF-8", what, a)
	}
	if len(a) > 1000 {
		return fmt.Errorf("%s address is longer than 1000 bytes", what)
	}
	if strings.IndexFunc(a, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s address %q contains a control character", what, a)
	}
	return nil
}

// checkNotify accepts what the envelope may send as NOTIFY (smtp.DSNNotify,
// RFC 3461 4.1), or "". A stored envelope that fails is damaged, not a
// usage error, so the error is the queue's own.
func checkNotify(n string) error {
	if n == "" {
		return nil
	}
	if _, err := smtp.DSNNotify(n); err != nil {
		return fmt.Errorf("DSN NOTIFY %q is not NEVER or a list of SUCCESS,FAILURE,DELAY", n)
	}
	return nil
}

// oneLine turns an error text into one line (redact.OneLine) of at most
// 1000 bytes: the queue keeps it in the envelope and shows it in mailq,
// so, unlike a terminal line, it is bounded.
func oneLine(s string) string { return redact.Clip(redact.OneLine(s), 1000) }
