package setup

import (
	"flag"
	"fmt"
	"strings"
)

// Usage is the text of "gsendmail setup --help": the synopsis and every
// flag of the wizard, so that a flag added to newFlagSet is listed too.
func Usage() string {
	var b strings.Builder
	b.WriteString("usage: gsendmail setup [ADDRESS] [options]\n\n")
	b.WriteString("Asks for what it cannot find out (provider preset, DNS SRV/MX records)\n")
	b.WriteString("and writes or extends the configuration file; every question has a flag.\n\n")
	b.WriteString("options:\n")
	newFlagSet(&flags{}).VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		arg := " VALUE"
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			arg = ""
		}
		fmt.Fprintf(&b, "  %s%s%s\n", dash, f.Name, arg)
	})
	b.WriteString("\nSee gsendmail(1), SETUP.\n")
	return b.String()
}
