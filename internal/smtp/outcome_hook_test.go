package smtp

// The client reports facts; internal/outcome decides their exit codes and
// advice. These tests still pin both end to end, through outcome, which
// imports this package: its functions reach the tests by way of
// outcome_link_test.go (package smtp_test), set before any test runs.
var (
	OutcomeCode    func(error) int
	OutcomeExplain func(error) error
)

// exitCode is the exit code a caller of gsendmail sees for err.
func exitCode(err error) int { return OutcomeCode(err) }

// line is the one line a user sees for err: the facts and what to do.
func line(err error) string {
	if err == nil {
		return ""
	}
	return OutcomeExplain(err).Error()
}
