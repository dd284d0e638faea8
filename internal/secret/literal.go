package secret

import "strings"

// CommandEmbedsLiteral reports whether a password_command (or
// oauth_client_secret_command) carries the secret in its own text: a
// pipeline stage that is echo or printf of words with no expansion, such
// as `echo secret`, `printf %s secret` or `echo c2VjcmV0 | base64 -d`.
// Such a command is a password written into the file, so the file must be
// as private as one with an inline password. A command that computes or
// fetches the secret (`pass show mail`, `cat /etc/pw`, `echo "$PW"`,
// `printf %s "$(secret-tool lookup ...)"`) does not.
func CommandEmbedsLiteral(cmd string) bool {
	for _, stage := range splitStages(cmd) {
		words := strings.Fields(stage)
		// Skip leading assignments (LC_ALL=C echo x) and "exec"/"command".
		for len(words) > 0 && (strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "=") || words[0] == "exec" || words[0] == "command" || words[0] == "builtin") {
			words = words[1:]
		}
		if len(words) < 2 {
			continue
		}
		name := words[0]
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		if name != "echo" && name != "printf" {
			continue
		}
		args := strings.Join(words[1:], " ")
		// $VAR, $(...), `...`: the secret comes from elsewhere.
		if strings.ContainsAny(args, "$`") {
			continue
		}
		literal := false
		for _, w := range words[1:] {
			w = strings.Trim(w, `'"`)
			if w == "" || strings.HasPrefix(w, "-") || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || w == "2>&1" {
				continue
			}
			if name == "printf" && strings.Contains(w, "%") && strings.Trim(w, "%sbn\\") == "" {
				continue // a format such as %s or %s\n
			}
			literal = true
		}
		if literal {
			return true
		}
	}
	return false
}

// splitStages splits a shell command on |, ;, && and ||, outside quotes.
func splitStages(cmd string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			cur.WriteByte(c)
		case c == '|' || c == ';' || c == '&' || c == '\n':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}
