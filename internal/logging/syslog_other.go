//go:build windows || plan9

package logging

import "errors"

func writeSyslog(string, int, string) error {
	return errors.New("syslog is not available on this platform")
}
