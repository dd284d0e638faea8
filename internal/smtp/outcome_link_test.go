package smtp_test

import (
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

func init() {
	smtp.OutcomeCode = outcome.Code
	smtp.OutcomeExplain = outcome.Explain
}
