package serve

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// checkFunc verifies identity (may be ""), user and password.
type checkFunc func(identity, user, password string) error

// newPlainServer is go-sasl's PLAIN (RFC 4616).
func newPlainServer(check checkFunc) sasl.Server {
	return sasl.NewPlainServer(sasl.PlainAuthenticator(check))
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login), which
// go-sasl no longer ships but Outlook-era clients and PHPMailer still
// prefer: "Username:" and "Password:" challenges. An initial response
// ("AUTH LOGIN dXNlcg==") is the user name.
type loginServer struct {
	check    checkFunc
	user     string
	step     int
	finished bool
}

func newLoginServer(check checkFunc) sasl.Server { return &loginServer{check: check} }

var errLoginSequence = errors.New("unexpected LOGIN response")

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	if l.finished {
		return nil, true, errLoginSequence
	}
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.finished = true
		return nil, true, l.check("", l.user, string(response))
	}
	return nil, true, errLoginSequence
}
