package directory

import (
	"errors"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
)

// FieldErrors collects every field error in err: the validators join them
// (errors.Join), and a policy's are policy.FieldErrors. The console and
// the admin API show each beside its field.
func FieldErrors(err error) []idp.InputError {
	var out []idp.InputError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var ie *idp.InputError
		var fe *policy.FieldError
		switch {
		case errors.As(e, &ie) && e == error(ie):
			out = append(out, *ie)
			return
		case errors.As(e, &fe) && e == error(fe):
			out = append(out, idp.InputError{Field: fe.Field, Message: fe.Message})
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		walk(errors.Unwrap(e))
	}
	walk(err)
	return out
}
