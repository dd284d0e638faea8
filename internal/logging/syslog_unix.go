//go:build !windows && !plan9

package logging

import (
	"fmt"
	"log/syslog"
	"strings"
)

var facilities = map[string]syslog.Priority{
	"mail": syslog.LOG_MAIL, "user": syslog.LOG_USER, "daemon": syslog.LOG_DAEMON,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// Facility parses "LOG_MAIL", "mail", "local3"... into a syslog facility.
func Facility(name string) (syslog.Priority, error) {
	n := strings.TrimPrefix(strings.ToLower(name), "log_")
	if p, ok := facilities[n]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q (use mail, user, daemon or local0..local7)", name)
}

func writeSyslog(facility string, exitCode int, line string) error {
	f, err := Facility(facility)
	if err != nil {
		return err
	}
	sev := syslog.LOG_INFO
	if exitCode != 0 {
		sev = syslog.LOG_ERR
	}
	w, err := syslog.New(f|sev, "gsendmail")
	if err != nil {
		return err
	}
	defer w.Close()
	_, err = w.Write([]byte(line))
	return err
}
