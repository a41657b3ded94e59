package confparse

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration, at a position.
type Error struct {
	Pos Pos
	Msg string
	// Includes is the chain of include directives that led to Pos.File,
	// outermost first: Includes[0] is in the main file. It is empty for an
	// error in the main file.
	Includes []Pos

	cause error // underlying error (for example from os.ReadFile), for errors.Is
}

// Error formats the error as "file:line:col: msg", followed by
// " (included from b.conf:2:1, a.conf:3:1)" (innermost include first) when
// the file was included.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if len(e.Includes) > 0 {
		b.WriteString(" (included from ")
		for i := len(e.Includes) - 1; i >= 0; i-- {
			b.WriteString(e.Includes[i].String())
			if i > 0 {
				b.WriteString(", ")
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the underlying error, if any, so that for example
// errors.Is(err, fs.ErrNotExist) works for a missing include.
func (e *Error) Unwrap() error { return e.cause }

// ErrorList is a list of errors, modelled on go/scanner.ErrorList: parsing
// collects every problem it can rather than stopping at the first.
type ErrorList []*Error

// Add appends an error at pos.
func (l *ErrorList) Add(pos Pos, msg string) {
	*l = append(*l, &Error{Pos: pos, Msg: msg})
}

// Len, Swap and Less implement sort.Interface.
func (l ErrorList) Len() int      { return len(l) }
func (l ErrorList) Swap(i, j int) { l[i], l[j] = l[j], l[i] }

// Less orders errors by where they are met reading the main file: an error
// in an included file sorts at its include directive, so the list reads
// in source order across includes.
func (l ErrorList) Less(i, j int) bool {
	a, b := l[i], l[j]
	n := len(a.Includes)
	if len(b.Includes) < n {
		n = len(b.Includes)
	}
	for k := 0; k <= n; k++ {
		pa, pb := a.Pos, b.Pos
		if k < len(a.Includes) {
			pa = a.Includes[k]
		}
		if k < len(b.Includes) {
			pb = b.Includes[k]
		}
		if pa != pb {
			return pa.less(pb)
		}
	}
	if len(a.Includes) != len(b.Includes) {
		return len(a.Includes) < len(b.Includes)
	}
	return a.Msg < b.Msg
}

// Sort sorts the list in place (see Less).
func (l ErrorList) Sort() { sort.Stable(l) }

// Err returns the list as an error, or nil when it is empty; returning a
// nil ErrorList as error would give a non-nil interface.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Error returns the first error's message and, when there are more,
// "(and N more errors)", as go/scanner does. Print each element to show
// them all.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	case 2:
		return l[0].Error() + " (and 1 more error)"
	}
	return l[0].Error() + " (and " + strconv.Itoa(len(l)-1) + " more errors)"
}

// Unwrap returns the errors, so that errors.Is and errors.As look at each.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
