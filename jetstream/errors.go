package jetstream

import (
	"fmt"
	"strings"
)

// APIError is an API reply's "error": nats-server's code (an HTTP status),
// its JetStream error code, and the description clients show.
type APIError struct {
	Code        int    `json:"code"`
	ErrCode     uint16 `json:"err_code,omitempty"`
	Description string `json:"description,omitempty"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%s (%d)", e.Description, e.ErrCode) }

type errorDef struct {
	code int
	desc string
}

// newError makes the API error errCode, filling its {placeholders} from
// args given as name, value pairs: newError(errSequenceNotFound, "{seq}", 2).
func newError(errCode uint16, args ...any) *APIError {
	def, ok := errorTable[errCode]
	if !ok {
		return &APIError{Code: 500, ErrCode: errCode, Description: "unknown error"}
	}
	desc := def.desc
	for i := 0; i+1 < len(args); i += 2 {
		name, _ := args[i].(string)
		desc = strings.ReplaceAll(desc, name, fmt.Sprint(args[i+1]))
	}
	return &APIError{Code: def.code, ErrCode: errCode, Description: desc}
}

// errWith is newError for the many errors whose description is one {err}.
func errWith(errCode uint16, err error) *APIError {
	return newError(errCode, "{err}", err)
}
