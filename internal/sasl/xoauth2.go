package sasl

import (
	"encoding/json"
	"errors"
	"fmt"
)

// OAuthError is the JSON error an OAuth2 SASL server sends as its challenge
// after refusing a token (RFC 7628 3.2.2; Google and Microsoft send the same
// shape for XOAUTH2). Status is e.g. "400", "401" or "invalid_token".
type OAuthError struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

// maxOAuthChallenge bounds what ParseOAuthError accepts; real challenges
// are under 200 bytes.
const maxOAuthChallenge = 4096

// ParseOAuthError decodes an OAuth2 error challenge (already base64-decoded).
// It fails unless the challenge is a JSON object with a non-empty status.
func ParseOAuthError(challenge []byte) (OAuthError, error) {
	if len(challenge) > maxOAuthChallenge {
		return OAuthError{}, fmt.Errorf("oauth error challenge too long (%d bytes)", len(challenge))
	}
	// Decode leniently: servers add fields, and some send numbers.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(challenge, &raw); err != nil {
		return OAuthError{}, fmt.Errorf("oauth error challenge is not a JSON object: %w", err)
	}
	var e OAuthError
	for key, val := range raw {
		s, ok := jsonScalar(val)
		if !ok {
			continue
		}
		switch key { // exact names: deterministic when a server repeats a key in another case
		case "status":
			e.Status = s
		case "schemes":
			e.Schemes = s
		case "scope":
			e.Scope = s
		}
	}
	if e.Status == "" {
		return OAuthError{}, errors.New("oauth error challenge has no status")
	}
	return e, nil
}

// jsonScalar returns a JSON string or number as text.
func jsonScalar(v json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err == nil {
		return n.String(), true
	}
	return "", false
}

// Error describes the refusal without the token.
func (e OAuthError) Error() string {
	return "oauth2 token refused (status " + e.Status + ")"
}

type xoauth2 struct {
	user, token string
	lastErr     *OAuthError
}

// NewXOAUTH2Client returns a client for Google's and Microsoft's XOAUTH2
// mechanism. The initial response is "user=U\x01auth=Bearer T\x01\x01".
// A server challenge is the base64-decoded JSON error; the client answers
// it with an empty response (never nil) so the server sends its final
// 535/454, and records the error for LastOAuthError.
func NewXOAUTH2Client(user, token string) Client {
	return &xoauth2{user: user, token: token}
}

func (x *xoauth2) Start() (string, []byte, error) {
	ir := "user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"
	return MechXOAUTH2, []byte(ir), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	if e, err := ParseOAuthError(challenge); err == nil {
		x.lastErr = &e
	}
	return []byte{}, nil
}

func (x *xoauth2) LastOAuthError() (OAuthError, bool) {
	if x.lastErr == nil {
		return OAuthError{}, false
	}
	return *x.lastErr, true
}
