package oauth

import (
	"fmt"
	"net"
	"net/url"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// listenRedirect opens the listener of the browser login: on
// c.RedirectURI's loopback host and fixed port when one is configured
// (providers that compare the redirect exactly), else on 127.0.0.1 with a
// random port. It returns the redirect URI to send and the path the
// browser comes back to.
func (c *Config) listenRedirect() (ln net.Listener, redirect, path string, err error) {
	if c.RedirectURI == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", "", temp(fmt.Errorf("cannot listen on 127.0.0.1 for the login redirect: %v: use the paste flow instead", err))
		}
		return ln, "http://" + ln.Addr().String() + "/", "/", nil
	}
	u, err := url.Parse(c.RedirectURI)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return nil, "", "", sysexits.New(sysexits.Config, fmt.Errorf("oauth_redirect_uri %q is not a loopback http address with a port, so the browser login cannot receive it: use the paste flow (gsendmail auth login --no-browser)", c.RedirectURI))
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, "", "", sysexits.New(sysexits.Config, fmt.Errorf("oauth_redirect_uri %q is not on a loopback address: use the paste flow (gsendmail auth login --no-browser)", c.RedirectURI))
	}
	ln, err = net.Listen("tcp", net.JoinHostPort(host, u.Port()))
	if err != nil {
		return nil, "", "", temp(fmt.Errorf("cannot listen on %s for the login redirect (oauth_redirect_uri): %v: stop the program using port %s, or use the paste flow", net.JoinHostPort(host, u.Port()), err, u.Port()))
	}
	path = u.Path
	if path == "" {
		path = "/"
	}
	return ln, c.RedirectURI, path, nil
}

// pasteRedirectURI is the redirect of the paste flow: the configured one,
// else a random loopback port where nothing listens.
func (c *Config) pasteRedirectURI() string {
	if c.RedirectURI != "" {
		return c.RedirectURI
	}
	return pasteRedirect()
}
